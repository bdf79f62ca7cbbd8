"""Explaining a folder of images at scale: decoding at the size the network needs, several images
per session run, decoding and encoding in threads beside the network, atomic outputs, and a
results.jsonl whose lines are the done-markers that make ``--resume`` exact.

Per image the job writes the outputs chosen (``JobSettings.outputs``): ``<name>.png`` (overlay)
and ``<name>.npz`` (arrays), each atomically, and only then, once both are in place, appends its
JSON line. A kill can therefore leave at most a partial last line (cut off on resume) and outputs
without a line (redone and atomically replaced): nothing lost, nothing twice.

How the work overlaps (``ExplainStream``): a pool of decoding threads works up to two batches
ahead of the network; the network runs in the caller's thread; a pool of writing threads draws
the overlays and encodes the PNG and NPZ files of earlier batches (at most two batches behind).
PIL releases the GIL while it decodes, resizes and zlib-compresses, so these threads use other
cores; both pools have ``io_threads`` threads (default: the cores this process may use, at most
16). Every queue is bounded, so memory does not grow with the number of images. The same
``ImageJob`` and ``ExplainStream`` do the work for ``gradcam batch`` and the Beam pipeline.
"""

import glob
import json
import os
import resource
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.images import load_image, load_scaled
from gradcam.methods import get_method
from gradcam.score import LOGIT, Score
from gradcam.visualize import STYLES

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
RESULTS_FILE = "results.jsonl"
OUTPUTS = ("png", "npz", "jsonl")
NPZ_MAPS = ("full", "lowres")
MAX_IO_THREADS = 16


def default_io_threads():
    """Decoding (and, separately, writing) threads: the cores this process may use, at most 16."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_IO_THREADS))


def parse_outputs(text):
    """The outputs named in a comma-separated ``text`` ("png,npz,jsonl"), in canonical order."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown or not names:
        raise UserError(
            f"{{argument}}: {', '.join(unknown) or 'nothing'} is not an output; "
            f"choose from {','.join(OUTPUTS)}",
            "outputs",
        )
    return tuple(n for n in OUTPUTS if n in names)


@dataclass(frozen=True)
class JobSettings:
    """What to explain and how; plain values so Beam can ship it to workers. Checked when made."""

    model: str = "efficientnet_lite0"
    checkpoint: Optional[str] = None
    model_file: Optional[str] = None  # a Keras/SavedModel/.pb file (instead of model) ...
    trust_model_code: bool = False  # ... and how to load it (see gradcam.Model.from_file)
    preprocessing: Optional[str] = None
    image_size: Optional[int] = None
    method: str = "grad_cam"
    target_class: Optional[str] = None  # name or index; None = each image's top class
    layer: Optional[str] = None
    top_k: int = 5
    style: str = "heatmap"
    alpha: float = 0.5
    batch_size: int = 8
    central_fraction: Optional[float] = None
    options: tuple = ()  # (key, value) pairs of method options
    score: Score = LOGIT  # what is explained: kind, and a contrast class (name or index) or None
    outputs: tuple = OUTPUTS  # which of png, npz, jsonl to write per image
    npz_maps: str = "full"  # "full": the S x S map; "lowres": only the feature-resolution map
    exact_decode: bool = False  # True: decode every pixel (else at the size the network needs)
    io_threads: Optional[int] = None  # decoding and writing threads each; None: from the cores

    def __post_init__(self):
        method = get_method(self.method)
        method.check_options(dict(self.options))
        if not isinstance(self.score, Score):
            raise UserError(
                f"{{argument}} must be a gradcam.score.Score, got {self.score!r}", "score"
            )
        if self.style not in STYLES:
            raise UserError(f"unknown style {self.style!r}; valid styles: {', '.join(STYLES)}")
        for name in ("top_k", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{{argument}} must be at least 1, got {getattr(self, name)}", name)
        if self.io_threads is not None and self.io_threads < 1:
            raise UserError(f"{{argument}} must be at least 1, got {self.io_threads}", "io_threads")
        if not self.outputs or set(self.outputs) - set(OUTPUTS):
            raise UserError(
                f"{{argument}} must name some of {','.join(OUTPUTS)}, got "
                f"{','.join(self.outputs) or 'nothing'}",
                "outputs",
            )
        if self.npz_maps not in NPZ_MAPS:
            raise UserError(
                f"{{argument}} must be one of {', '.join(NPZ_MAPS)}, got {self.npz_maps!r}",
                "npz_maps",
            )
        if self.npz_maps == "lowres" and not method.lowres:
            raise UserError(
                f"{{argument}} lowres: {self.method} has no feature-resolution map (use full)",
                "npz_maps",
            )
        if self.npz_maps == "lowres" and "npz" not in self.outputs:
            raise UserError("{argument} lowres needs npz among the outputs", "npz_maps")

    @property
    def io_thread_count(self):
        """``io_threads``, or the default from the cores."""
        return self.io_threads or default_io_threads()


# -- inputs ------------------------------------------------------------------------------------
def list_inputs(source):
    """(sorted image paths, root directory) of a directory (recursive), a glob or one file.

    In a directory only files with an image suffix count; a glob takes every file it matches.
    """
    path = Path(source)
    if path.is_dir():
        files = [
            f
            for f in path.rglob("*")
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
        ]
        root = path
    elif glob.has_magic(source):
        files = [Path(f) for f in glob.glob(source, recursive=True) if Path(f).is_file()]
        root = Path(os.path.commonpath([str(f.parent) for f in files])) if files else None
    elif path.is_file():
        files, root = [path], path.parent
    else:
        raise UserError(f"{source}: no such directory or file, and not a glob pattern")
    if not files:
        raise UserError(f"{source}: no images found")
    files = sorted(files)
    seen = {}
    for path in files:  # sub-folders flatten into names: two inputs must not share one output
        other = seen.setdefault(output_name(path, root), path)
        if other != path:
            raise UserError(
                f"{other} and {path} would both write {output_name(path, root)}.*; rename one"
            )
    return files, root


def output_name(path, root):
    """A unique, flat output name for an input: its path under ``root`` with '/' as '__'."""
    return "__".join(Path(path).relative_to(root).parts)


# -- one job: decode, explain a batch, write -----------------------------------------------------
@dataclass(kw_only=True)
class Decoded:
    path: str
    image: Optional[np.ndarray]  # uint8 S x S x 3 network input, or None when unreadable
    error: Optional[str] = None
    seconds: float = 0.0


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


class ImageJob:
    """Explains batches of images with one model and writes each image's chosen outputs."""

    def __init__(self, model, settings, out_dir, root):
        self.model, self.settings = model, settings
        self.out_dir, self.root = Path(out_dir), Path(root)
        self.target = (
            None if settings.target_class is None else model.class_index(settings.target_class)
        )
        self.score = settings.score.resolve(model.labels)
        self.method = get_method(settings.method)  # its options were checked with the settings
        # None: decode every pixel; else the smallest (width, height) the preprocessing needs
        self.min_size = (
            None if settings.exact_decode else model.decode_size(settings.central_fraction)
        )

    def decode(self, path):
        """Decoded item of ``path``; any failure becomes that file's error, never an exception."""
        start = time.perf_counter()
        try:
            photo = load_image(path) if self.min_size is None else load_scaled(path, self.min_size)
            image = self.model.prepare(photo, self.settings.central_fraction)
            return Decoded(path=str(path), image=image, seconds=time.perf_counter() - start)
        except UserError as exc:
            error = str(exc)
        except Exception as exc:  # a decoder bug must not stop the run: it is this file's error
            error = f"{path}: cannot decode ({type(exc).__name__}: {exc})"
        return Decoded(path=str(path), image=None, error=error, seconds=time.perf_counter() - start)

    def process(self, items):
        """JSON-able records of decoded items (errors included), outputs written for the rest
        (in this thread; ``ExplainStream`` overlaps the steps)."""
        items, result, seconds = self.explain(items)
        good = [item for item in items if item.image is not None]
        return self.records(
            items, [self.write_one(item, result, i) for i, item in enumerate(good)], seconds
        )

    def explain(self, items):
        """Run the method on the readable items -> (items, Explanation or None, seconds)."""
        start = time.perf_counter()
        good = [item for item in items if item.image is not None]
        result = None
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
        return items, result, time.perf_counter() - start

    def records(self, items, written, seconds):
        """One record per item, in input order, from the ``write_one`` results of the readable
        ones: an item's seconds are its decoding, its share of the batch's explaining (``seconds``)
        and its own writing."""
        written = iter(written)
        share = seconds / max(sum(item.image is not None for item in items), 1)
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

    def write_one(self, item, result, i):
        """Write row ``i``'s chosen files (each atomically) -> (its record, seconds spent)."""
        start = time.perf_counter()
        settings = self.settings
        name = output_name(item.path, self.root)
        target = int(result.target[i])
        record = {
            "path": item.path,
            "model": self.model.name,
            "method": settings.method,
            "top_k": result.top_k(settings.top_k, i),
            "target": {
                "index": target,
                "label": result.label(target),
                "probability": float(result.probabilities[i, target]),
            },
            "map": map_statistics(result.map[i]),
            "degenerate": bool(result.degenerate[i]),
            **self._contrast_record(result, i),
        }
        if "png" in settings.outputs:
            result.save(self.out_dir / f"{name}.png", i, settings.style, settings.alpha)
            record["png"] = f"{name}.png"
        if "npz" in settings.outputs:
            result.save(self.out_dir / f"{name}.npz", i, maps=settings.npz_maps)
            record["npz"] = f"{name}.npz"
        return record, time.perf_counter() - start

    def _contrast_record(self, result, i):
        """The record's "contrast" and "score" keys, when not the defaults."""
        record = {}
        if result.contrast is not None:
            record["contrast"] = {
                "index": result.contrast,
                "label": result.label(result.contrast),
                "probability": float(result.probabilities[i, result.contrast]),
            }
        if result.score.kind != "logit":
            record["score"] = result.score.kind
        return record


def ahead(function, items, pool, depth):
    """Yield ``function(item)`` for each item in order, computed in ``pool`` at most ``depth``
    items ahead of the consumer; an exception is raised to the consumer at its item."""
    items, running = iter(items), deque()
    try:
        while True:
            while len(running) < depth and (item := next(items, _END)) is not _END:
                running.append(pool.submit(function, item))
            if not running:
                return
            yield running.popleft().result()
    finally:
        for future in running:  # the consumer stopped early: drop what has not started
            future.cancel()


_END = object()


def _done(futures):
    return all(future.done() for future in futures)


class ExplainStream:
    """Decode, explain and write overlapped (see the module docstring); pools live until
    ``close`` (or the end of a ``with`` block), so a Beam worker keeps them between elements."""

    def __init__(self, job, threads=None, in_flight=2):
        self.job = job
        threads = threads or job.settings.io_thread_count
        self.decoders = ThreadPoolExecutor(threads, thread_name_prefix="gradcam-decode")
        self.writers = ThreadPoolExecutor(threads, thread_name_prefix="gradcam-write")
        self.depth = max(2 * job.settings.batch_size, threads)
        self.in_flight = in_flight

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for pool in (self.decoders, self.writers):
            pool.shutdown(wait=True, cancel_futures=True)

    def run(self, paths):
        """Lists of records (one per batch, in input order); each list is yielded once every
        file of its images is in place, so the caller may then mark them done."""
        job, size = self.job, self.job.settings.batch_size
        writing = deque()
        batch = []
        for item in ahead(job.decode, paths, self.decoders, self.depth):
            batch.append(item)
            if len(batch) == size:
                writing.append(self._write(job.explain(batch)))
                batch = []
                while len(writing) > self.in_flight or (writing and _done(writing[0][1])):
                    yield self._records(writing.popleft())
        if batch:
            writing.append(self._write(job.explain(batch)))
        while writing:
            yield self._records(writing.popleft())

    def _write(self, explained):
        """Submit the writing of an explained batch's images -> (explained, their futures)."""
        items, result, _ = explained
        good = [item for item in items if item.image is not None]
        return explained, [
            self.writers.submit(self.job.write_one, item, result, i) for i, item in enumerate(good)
        ]

    def _records(self, pending):
        (items, _, seconds), futures = pending
        return self.job.records(items, [future.result() for future in futures], seconds)


# -- the local batch run -------------------------------------------------------------------------
def completed_paths(results_file):
    """Resolved paths that already have a complete JSON line; a partial last line is cut off."""
    results_file = Path(results_file)
    if not results_file.exists():
        return set()
    data = results_file.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(results_file, "r+b") as handle:
            handle.truncate(end)
    done = set()
    for number, line in enumerate(data[:end].splitlines(), 1):
        try:
            done.add(os.path.realpath(json.loads(line)["path"]))
        except (ValueError, KeyError, TypeError):
            raise UserError(
                f"{results_file}:{number}: not a gradcam result line; use another --out"
            ) from None
    return done


def check_resume(settings, resume):
    """UserError for ``--resume`` without jsonl among the outputs (its lines are what a resumed
    run skips: without them nothing says which images are done)."""
    if resume and "jsonl" not in settings.outputs:
        raise UserError(
            "--resume needs jsonl in {argument} (its lines mark the images done)", "outputs"
        )


def _append_lines(handle, records):
    """Append one JSON line per record, then flush and fsync once."""
    handle.write("".join(json.dumps(record) + "\n" for record in records))
    handle.flush()
    os.fsync(handle.fileno())


def peak_rss_mb():
    """Peak resident memory of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_batch(model, source, out_dir, settings, resume=False, progress=True):
    """Explain every image of ``source`` into ``out_dir``; returns the summary dict."""
    check_resume(settings, resume)
    paths, root = list_inputs(source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_file = out_dir / RESULTS_FILE
    lines = "jsonl" in settings.outputs
    if lines and not resume and results_file.exists() and results_file.stat().st_size:
        raise UserError(f"{results_file} exists: pass --resume to continue it, or another --out")
    job = ImageJob(model, settings, out_dir, root)
    for stale in out_dir.glob(".*"):  # temporary files of atomic writes cut short by a kill
        if stale.suffix in (".png", ".npz") and stale.is_file():
            stale.unlink()
    done = completed_paths(results_file) if lines else set()
    todo = [p for p in paths if os.path.realpath(p) not in done]  # however the path was typed
    summary = {
        "images": 0,
        "errors": 0,
        "skipped_done": len(paths) - len(todo),
        "failed": [],
        "outputs": ",".join(settings.outputs),
        "decode": "exact" if settings.exact_decode else "reduced",
        "io_threads": settings.io_thread_count,
    }
    start = time.perf_counter()
    bar = tqdm(total=len(todo), unit="img", file=sys.stderr, disable=not progress)
    try:
        with (
            open(results_file, "a", encoding="utf-8") if lines else nullcontext() as handle,
            ExplainStream(job) as stream,
        ):
            for records in stream.run(todo):
                if handle is not None:
                    _append_lines(handle, records)  # after the batch's files are in place
                for record in records:
                    if "error" in record:
                        summary["errors"] += 1
                        summary["failed"].append(record)
                    else:
                        summary["images"] += 1
                bar.update(len(records))
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    summary.update(
        seconds=round(seconds, 3),
        peak_rss_mb=round(peak_rss_mb(), 1),
        images_per_second=round(summary["images"] / seconds, 3) if seconds else 0.0,
    )
    return summary
