"""Collecting one map per image for an audit, through the batch pipeline.

``collect`` runs ``gradcam.batch``'s ``ExplainStream`` (same decoding at the size the network
needs, threads beside the network, progress bar) with a job that writes no per-image files: each
batch's feature-resolution maps and logits go to one chunk ``AUDIT/collect/chunk-NNNNNN.npz``
(atomically), and only then its lines to ``AUDIT/collect/results.jsonl``, the done-markers that
make ``resume`` exact, as in batch mode. Memory stays flat in the number of images: at the end
only the small maps (h x w, e.g. 7 x 7) and logits are gathered, into ``AUDIT/maps.npz``.

Each image is explained for its true class (labelled data, ``by="true"``) or its top class.
Methods without a feature-resolution map keep their display map box-averaged to a
``POOLED_SIZE`` grid. ``load_batch_outputs`` reads the NPZ outputs of ``gradcam batch`` or
``gradcam beam`` instead (``--outputs npz,jsonl --npz-maps lowres``): there each map is of the
class the batch run explained.
"""

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image
from tqdm import tqdm

from gradcam.batch import (
    RESULTS_FILE,
    Explained,
    ExplainStream,
    ImageJob,
    JobSettings,
    completed_paths,
)
from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.visualize import atomic_write

COLLECT_DIR = "collect"
MAPS_FILE = "maps.npz"
SETTINGS_FILE = "settings.json"
POOLED_SIZE = 16
BY = ("true", "predicted")


@dataclass(frozen=True, kw_only=True)
class Collected:
    """One map per readable image of a data set.

    Attributes:
        paths: the images, relative to the data set's folder ('/' separators), in its order.
        true: int [N] true class of each image, or None (unlabelled data).
        target: int [N] the class each map explains.
        logits: float32 [N, C] of each image.
        maps: float32 [N, h, w] feature-resolution maps (raw: before ReLU).
        errors: ({"path", "error"}, ...) of images that could not be read (skipped).
    """

    paths: tuple
    true: Optional[np.ndarray]
    target: np.ndarray
    logits: np.ndarray
    maps: np.ndarray
    errors: tuple = ()

    @property
    def predicted(self) -> np.ndarray:
        """int [N] each image's top class."""
        return self.logits.argmax(axis=1)

    @property
    def correct(self) -> Optional[np.ndarray]:
        """bool [N] top class == true class, or None (unlabelled)."""
        return None if self.true is None else self.predicted == self.true

    def save(self, path) -> Path:
        """Write the arrays (and the paths) as one NPZ, atomically."""
        arrays = {
            "paths": np.asarray(self.paths, dtype=str),
            "target": self.target,
            "logits": self.logits,
            "maps": self.maps,
        }
        if self.true is not None:
            arrays["true"] = self.true

        def write(tmp):
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)

        atomic_write(path, write)
        return Path(path)


def pooled(heatmap, size=POOLED_SIZE):
    """A display map [S, S] box-averaged to size x size (for methods without a lowres map)."""
    image = Image.fromarray(np.asarray(heatmap, np.float32), mode="F")
    return np.asarray(image.resize((size, size), Image.BOX), np.float32)


class CollectJob(ImageJob):
    """An ``ImageJob`` that explains each image for its own class and keeps its small map and
    logits in the record instead of writing files (``_map``, ``_logits``: for the caller)."""

    def __init__(self, model, settings, root, targets):
        super().__init__(model, settings, root, root)
        self.targets = targets  # {path string: class index}, or None (each image's top class)

    def explain(self, items):
        good = [item for item in items if item.image is not None]
        result = None
        if good:
            target = None if self.targets is None else [self.targets[item.path] for item in good]
            settings = self.settings
            result = explain(
                self.model,
                np.stack([item.image for item in good]),
                target,
                self.method,
                layer=settings.layer,
                batch_size=settings.batch_size,
                **dict(settings.options),
            )
        return Explained(items=items, result=result, probabilities=None, seconds=0.0)

    def write_one(self, item, explained, i):
        result = explained.result
        small = result.lowres[i] if result.lowres is not None else pooled(result.map[i])
        record = {
            "path": item.path,
            "target": int(result.target[i]),
            "_map": np.asarray(small, np.float32),
            "_logits": np.asarray(result.logits[i], np.float32),
        }
        return record, 0.0


def collect(
    model,
    data,
    out_dir,
    *,
    method: str = "grad_cam",
    layer: Optional[str] = None,
    by: str = "true",
    batch_size: int = 32,
    options: Optional[dict] = None,
    resume: bool = False,
    progress: bool = True,
    io_threads: Optional[int] = None,
) -> Collected:
    """Explain every image of ``data`` (a ``gradcam.dataset.LabelledImages``) into
    ``out_dir/collect`` and return the maps; ``resume`` continues an interrupted collection
    (UserError if one exists and ``resume`` is False, or if it was made with other settings)."""
    if by not in BY:
        raise UserError(f"{{argument}} must be one of {', '.join(BY)}, got {by!r}", "by")
    settings = JobSettings(
        method=method,
        layer=layer,
        batch_size=batch_size,
        options=tuple(sorted((options or {}).items())),
        outputs=("jsonl",),
        io_threads=io_threads,
    )
    folder = Path(out_dir) / COLLECT_DIR
    results = folder / RESULTS_FILE
    chosen = {"method": method, "layer": layer, "by": by, "options": dict(settings.options)}
    if results.exists() and results.stat().st_size:
        if not resume:
            raise UserError(f"{results} exists: pass --resume to continue it, or another --out")
        earlier = json.loads((folder / SETTINGS_FILE).read_text())
        if earlier != json.loads(json.dumps(chosen)):
            raise UserError(
                f"{folder} was collected with {earlier}, not {chosen}: use another --out"
            )
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / SETTINGS_FILE, lambda tmp: Path(tmp).write_text(json.dumps(chosen)))
    for stale in folder.glob(".*"):  # temporary files of atomic writes cut short by a kill
        stale.unlink()
    labelled = data.labelled and by == "true"
    targets = dict(zip(map(str, data.paths), data.classes)) if labelled else None
    job = CollectJob(model, settings, data.root, targets)
    done = completed_paths(results)
    todo = [str(p) for p in data.paths if os.path.realpath(p) not in done]
    chunk = len(list(folder.glob("chunk-*.npz")))
    bar = tqdm(total=len(todo), unit="img", file=sys.stderr, disable=not progress)
    try:
        with open(results, "a", encoding="utf-8") as handle, ExplainStream(job) as stream:
            for records in stream.run(todo):
                name = f"chunk-{chunk:06d}.npz"
                chunk += 1
                _write_chunk(folder / name, records)
                lines, row = [], 0
                for record in records:
                    if "error" in record:
                        lines.append({"path": record["path"], "error": record["error"]})
                    else:
                        lines.append({"path": record["path"], "chunk": name, "row": row})
                        row += 1
                handle.write("".join(json.dumps(line) + "\n" for line in lines))
                handle.flush()
                os.fsync(handle.fileno())
                bar.update(len(records))
    finally:
        bar.close()
    collected = read_collection(folder, data)
    collected.save(Path(out_dir) / MAPS_FILE)
    return collected


def _write_chunk(path, records):
    good = [r for r in records if "error" not in r]
    arrays = {
        "target": np.array([r["target"] for r in good], np.int64),
        "maps": np.stack([r["_map"] for r in good]) if good else np.zeros((0, 1, 1), np.float32),
        "logits": np.stack([r["_logits"] for r in good]) if good else np.zeros((0, 1), np.float32),
    }

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(path, write)


def read_collection(folder, data) -> Collected:
    """The ``Collected`` of ``data``'s images from a collection folder's lines and chunks."""
    folder = Path(folder)
    chunks = {}

    def row(line):
        if line["chunk"] not in chunks:
            with np.load(folder / line["chunk"]) as arrays:
                chunks[line["chunk"]] = {k: arrays[k] for k in arrays.files}
        return chunks[line["chunk"]], line["row"]

    return _gathered(data, *_rows(folder / RESULTS_FILE, data, row))


def load_batch_outputs(out_dir, data) -> Collected:
    """The maps of ``data``'s images from a ``gradcam batch`` / ``gradcam beam`` output folder
    (NPZ outputs with a feature-resolution map: ``--outputs npz,jsonl --npz-maps lowres``)."""
    out_dir = Path(out_dir)
    results = out_dir / RESULTS_FILE
    if not results.is_file():
        raise UserError(f"{results}: no such file (give the --out folder of gradcam batch/beam)")

    def row(line):
        if "npz" not in line:
            raise UserError(f"{results}: no npz outputs; run the batch with --outputs npz,jsonl")
        with np.load(out_dir / line["npz"]) as arrays:
            if "lowres" in arrays.files:
                small = arrays["lowres"]
            elif "map" in arrays.files:
                small = pooled(arrays["map"])
            else:
                raise UserError(f"{out_dir / line['npz']}: holds no map")
            logits = arrays["logits"]
        return {"maps": small[None], "logits": logits[None], "target": [line["target"]["index"]]}, 0

    rows, errors = _rows(results, data, row)
    if not rows:
        raise UserError(f"{results}: none of the data set's images were explained there")
    return _gathered(data, rows, errors)


def _rows(results, data, row):
    """([(index in data, arrays, row in arrays)], errors) of ``data``'s images that have a line
    in ``results`` (a results.jsonl), in data order; ``row(line)`` -> (arrays, row)."""
    lines = {}
    for text in Path(results).read_text(encoding="utf-8").splitlines():
        if text.strip():
            line = json.loads(text)
            lines[os.path.realpath(line["path"])] = line
    rows, errors = [], []
    for index, path in enumerate(data.paths):
        line = lines.get(os.path.realpath(path))
        if line is None:
            continue
        if "error" in line:
            errors.append({"path": data.relative(path), "error": line["error"]})
        else:
            rows.append((index, *row(line)))
    return rows, errors


def _gathered(data, rows, errors):
    if not rows:
        raise UserError(f"{data.root}: no image could be read")
    indices = [i for i, _, _ in rows]
    true = None if not data.labelled else np.array([data.classes[i] for i in indices], np.int64)
    return Collected(
        paths=tuple(data.relative(data.paths[i]) for i in indices),
        true=true,
        target=np.array([int(c["target"][r]) for _, c, r in rows], np.int64),
        logits=np.stack([c["logits"][r] for _, c, r in rows]).astype(np.float32),
        maps=np.stack([c["maps"][r] for _, c, r in rows]).astype(np.float32),
        errors=tuple(errors),
    )
