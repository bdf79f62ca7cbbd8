"""One batch job: decode an image (a local file, or bytes a Beam worker read from any
filesystem), explain a batch with one model, write each image's chosen outputs and its record."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image

from gradcam.batch.inputs import output_name
from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.images import load_scaled
from gradcam.methods import get_method
from gradcam.visualize import atomic_write

PNG_LEVEL = 3  # zlib level of the overlays, as visualize.save_png writes them


@dataclass(kw_only=True)
class Decoded:
    path: str
    image: Optional[np.ndarray]  # uint8 H x W x 3 network input, or None when unreadable
    error: Optional[str] = None
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Explained:
    """A batch after the network: its items, the Explanation of the readable ones (or None), the
    head's probabilities computed once for the batch, and the seconds the network took."""

    items: list
    result: object
    probabilities: Optional[np.ndarray]
    seconds: float


def map_statistics(heatmap):
    """Summary numbers of one [S, S] map in [0, 1]."""
    peak = np.unravel_index(int(heatmap.argmax()), heatmap.shape)
    return {
        "mean": float(heatmap.mean()),
        "std": float(heatmap.std()),
        "max": float(heatmap.max()),
        "peak_yx": [int(peak[0]), int(peak[1])],
        "area_above_half": float((heatmap >= 0.5).mean()),
    }


def write_local(path, fill):
    """Write the local file ``path`` atomically: ``fill(handle)`` writes its bytes."""

    def write(tmp):
        with open(tmp, "wb") as handle:
            fill(handle)

    atomic_write(path, write)


def join_local(folder, name):
    return f"{str(folder).rstrip('/')}/{name}"


class ImageJob:
    """Explains batches of images with one model and writes each image's chosen outputs.

    ``write(location, fill)`` writes one output file (complete or absent; default: a local atomic
    write) and ``join(folder, name)`` names it; the Beam pipeline passes its filesystem versions.
    An item to decode is a path, or ``(path, read)`` with ``read()`` returning its bytes.
    """

    def __init__(
        self,
        model,
        settings,
        out_dir,
        root,
        write: Callable = write_local,
        join: Callable = join_local,
    ):
        self.model, self.settings = model, settings
        self.out_dir, self.root = str(out_dir), root
        self.write, self.join = write, join
        self.target = (
            None if settings.target_class is None else model.class_index(settings.target_class)
        )
        self.score = settings.score.resolve(model.labels)
        self.method = get_method(settings.method)  # its options were checked with the settings
        # None: decode every pixel; else the smallest (width, height) the preprocessing needs
        self.min_size = (
            None if settings.exact_decode else model.decode_size(settings.central_fraction)
        )

    def decode(self, item):
        """Decoded item of ``item``; any failure becomes that file's error, never an exception."""
        path, read = item if isinstance(item, tuple) else (item, None)
        start = time.perf_counter()
        try:
            data = None if read is None else _read(path, read)
            photo = load_scaled(path, self.min_size, data=data)
            image = self.model.prepare(
                photo if self.min_size is not None else photo.pixels, self.settings.central_fraction
            )
            return Decoded(path=str(path), image=image, seconds=time.perf_counter() - start)
        except UserError as exc:
            error = str(exc)
        except Exception as exc:  # a decoder bug must not stop the run: it is this file's error
            error = f"{path}: cannot decode ({type(exc).__name__}: {exc})"
        return Decoded(path=str(path), image=None, error=error, seconds=time.perf_counter() - start)

    def explain(self, items):
        """Run the method on the readable items -> ``Explained``."""
        start = time.perf_counter()
        good = [item for item in items if item.image is not None]
        result = probabilities = None
        if good:
            settings = self.settings
            images = np.stack([item.image for item in good])
            result = explain(
                self.model,
                images,
                self.target,
                self.method,
                layer=settings.layer,
                batch_size=settings.batch_size,
                score=self.score,
                **dict(settings.options),
            )
            probabilities = result.probabilities  # the head's softmax, once per batch
        return Explained(
            items=items,
            result=result,
            probabilities=probabilities,
            seconds=time.perf_counter() - start,
        )

    def records(self, explained, written):
        """One record per item, in input order, from the ``write_one`` results of the readable
        ones: an item's seconds are its decoding, its share of the batch's explaining and its own
        writing."""
        items = explained.items
        written = iter(written)
        share = explained.seconds / max(sum(item.image is not None for item in items), 1)
        out = []
        for item in items:
            if item.image is None:
                out.append(
                    {"path": item.path, "error": item.error, "seconds": round(item.seconds, 4)}
                )
            else:
                record, writing = next(written)
                out.append(dict(record, seconds=round(item.seconds + share + writing, 4)))
        return out

    def write_one(self, item, explained, i):
        """Write row ``i``'s chosen files (each complete or absent) -> (its record, seconds)."""
        start = time.perf_counter()
        settings, result, probabilities = self.settings, explained.result, explained.probabilities
        name = self.output_name(item.path)
        target = int(result.target[i])
        record = {
            "path": item.path,
            "model": self.model.name,
            "method": settings.method,
            "top_k": result.top_k(settings.top_k, i),
            "target": {
                "index": target,
                "label": result.label(target),
                "probability": float(probabilities[i, target]),
            },
            "map": map_statistics(result.map[i]),
            "degenerate": bool(result.degenerate[i]),
            **self._contrast_record(result, probabilities, i),
        }
        if "png" in settings.outputs:
            overlay = Image.fromarray(np.asarray(result.overlay(i, settings.style, settings.alpha)))
            self.write(
                self.join(self.out_dir, f"{name}.png"),
                lambda handle: overlay.save(handle, format="PNG", compress_level=PNG_LEVEL),
            )
            record["png"] = f"{name}.png"
        if "npz" in settings.outputs:
            arrays = result.npz_arrays(i, settings.npz_maps)
            self.write(
                self.join(self.out_dir, f"{name}.npz"), lambda handle: np.savez(handle, **arrays)
            )
            record["npz"] = f"{name}.npz"
        return record, time.perf_counter() - start

    def output_name(self, path):
        return output_name(path, self.root)

    @staticmethod
    def _contrast_record(result, probabilities, i):
        """The record's "contrast" and "score" keys, when not the defaults."""
        record = {}
        if result.contrast is not None:
            record["contrast"] = {
                "index": result.contrast,
                "label": result.label(result.contrast),
                "probability": float(probabilities[i, result.contrast]),
            }
        if result.score.kind != "logit":
            record["score"] = result.score.kind
        return record


def _read(path, read):
    """The bytes ``read()`` returns; a filesystem's failure is that file's error."""
    try:
        return read()
    except UserError:
        raise
    except Exception as exc:  # any filesystem's error: this object is unreadable
        raise UserError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
