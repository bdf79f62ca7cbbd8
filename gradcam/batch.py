"""Explaining a folder of images at scale: streamed decoding, several images per session run,
atomic outputs, and a results.jsonl whose lines are the done-markers that make ``--resume`` exact.

Per image the job writes ``<name>.png`` (overlay) and ``<name>.npz`` (arrays) atomically, and only
then appends its JSON line. A kill can therefore leave at most a partial last line (cut off on
resume) and outputs without a line (redone and atomically replaced): nothing lost, nothing twice.
The same ``ImageJob`` does the work for ``gradcam batch`` and the Beam pipeline.
"""
import glob
import json
import os
import queue
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from gradcam.arrays import SCORES
from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.images import load_image
from gradcam.methods import get_method
from gradcam.visualize import STYLES, save_png

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
RESULTS_FILE = "results.jsonl"


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
    contrast_class: Optional[str] = None  # name or index: explain the target rather than it
    score: str = "logit"  # or "probability"

    def __post_init__(self):
        get_method(self.method).check_options(dict(self.options))
        if self.score not in SCORES:
            raise UserError(f"unknown score {self.score!r}; valid scores: {', '.join(SCORES)}")
        if self.style not in STYLES:
            raise UserError(f"unknown style {self.style!r}; valid styles: {', '.join(STYLES)}")
        for name in ("top_k", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{{argument}} must be at least 1, got {getattr(self, name)}", name)


# -- inputs ------------------------------------------------------------------------------------
def list_inputs(source):
    """(sorted image paths, root directory) of a directory (recursive), a glob or one file.

    In a directory only files with an image suffix count; a glob takes every file it matches.
    """
    path = Path(source)
    if path.is_dir():
        files = [f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                 and not f.name.startswith(".")]
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
            raise UserError(f"{other} and {path} would both write {output_name(path, root)}.*; "
                            "rename one")
    return files, root


def output_name(path, root):
    """A unique, flat output name for an input: its path under ``root`` with '/' as '__'."""
    return "__".join(Path(path).relative_to(root).parts)


# -- one job: decode, explain a batch, write -----------------------------------------------------
@dataclass
class Decoded:
    path: str
    image: Optional[np.ndarray]  # uint8 S x S x 3 network input, or None when unreadable
    error: Optional[str] = None
    seconds: float = 0.0


def map_statistics(heatmap):
    """Summary numbers of one [S, S] map in [0, 1]."""
    peak = np.unravel_index(int(heatmap.argmax()), heatmap.shape)
    return {"mean": float(heatmap.mean()), "std": float(heatmap.std()),
            "max": float(heatmap.max()), "peak_yx": [int(peak[0]), int(peak[1])],
            "area_above_half": float((heatmap >= 0.5).mean())}


class ImageJob:
    """Explains batches of images with one model and writes each image's PNG and NPZ."""

    def __init__(self, model, settings, out_dir, root):
        self.model, self.settings = model, settings
        self.out_dir, self.root = Path(out_dir), Path(root)
        self.target = None if settings.target_class is None else model.class_index(settings.target_class)
        self.contrast = None if settings.contrast_class is None else \
            model.class_index(settings.contrast_class)

    def decode(self, path):
        """Decoded item of ``path``; any failure becomes that file's error, never an exception."""
        start = time.perf_counter()
        try:
            image = self.model.prepare(load_image(path), self.settings.central_fraction)
            return Decoded(str(path), image, seconds=time.perf_counter() - start)
        except UserError as exc:
            error = str(exc)
        except Exception as exc:  # a decoder bug must not stop the run: it is this file's error
            error = f"{path}: cannot decode ({type(exc).__name__}: {exc})"
        return Decoded(str(path), None, error, time.perf_counter() - start)

    def process(self, items):
        """JSON-able records of decoded items (errors included), outputs written for the rest."""
        return self.write(self.explain(items))

    def explain(self, items):
        """Run the method on the readable items -> (items, Explanation or None, seconds)."""
        start = time.perf_counter()
        good = [item for item in items if item.image is not None]
        result = None
        if good:
            settings = self.settings
            images = np.stack([item.image for item in good])
            result = explain(self.model, images, self.target, settings.method,
                             layer=settings.layer, batch_size=settings.batch_size,
                             contrast=self.contrast, score=settings.score, **dict(settings.options))
        return items, result, time.perf_counter() - start

    def write(self, explained):
        """Write the PNG and NPZ of each explained item -> one record per item, in input order;
        an item's seconds are its decoding plus its share of the batch's explaining and writing."""
        items, result, seconds = explained
        start = time.perf_counter()
        good = [item for item in items if item.image is not None]
        outputs = iter([self._write_one(item, result, i) for i, item in enumerate(good)])
        share = (seconds + time.perf_counter() - start) / max(len(good), 1)
        records = []
        for item in items:
            if item.image is None:
                records.append({"path": item.path, "error": item.error,
                                "seconds": round(item.seconds, 4)})
            else:
                records.append(dict(next(outputs), seconds=round(item.seconds + share, 4)))
        return records

    def _write_one(self, item, result, i):
        settings = self.settings
        name = output_name(item.path, self.root)
        target = int(result.target[i])
        save_png(self.out_dir / f"{name}.png", result.overlay(i, settings.style, settings.alpha))
        result.save(self.out_dir / f"{name}.npz", i)
        return {
            "path": item.path, "model": self.model.name, "method": settings.method,
            "top_k": result.top_k(settings.top_k, i),
            "target": {"index": target, "label": result.label(target),
                       "probability": float(result.probabilities[i, target])},
            "map": map_statistics(result.map[i]), "degenerate": bool(result.degenerate[i]),
            "png": f"{name}.png", "npz": f"{name}.npz", **self._contrast_record(result, i)}

    def _contrast_record(self, result, i):
        """The record's "contrast" and "score" keys, when not the defaults."""
        record = {}
        if result.contrast is not None:
            record["contrast"] = {"index": result.contrast, "label": result.label(result.contrast),
                                  "probability": float(result.probabilities[i, result.contrast])}
        if result.score != "logit":
            record["score"] = result.score
        return record


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
            raise UserError(f"{results_file}:{number}: not a gradcam result line; "
                            "use another --out") from None
    return done


def _decoded_stream(job, paths, depth, stop):
    """Yield Decoded items, decoded in a background thread ``depth`` images ahead (bounded)."""
    pending = queue.Queue(maxsize=depth)
    end = object()

    def put(item):
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def decode_all():
        try:
            for path in paths:
                if not put(job.decode(path)):
                    return
            put(end)
        except Exception as exc:  # handed to the consumer, which would otherwise wait forever
            put(exc)

    threading.Thread(target=decode_all, name="gradcam-decode", daemon=True).start()
    while (item := pending.get()) is not end:
        if isinstance(item, Exception):
            raise item
        yield item


def _append_line(handle, record):
    handle.write(json.dumps(record) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def peak_rss_mb():
    """Peak resident memory of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_batch(model, source, out_dir, settings, resume=False, progress=True):
    """Explain every image of ``source`` into ``out_dir``; returns the summary dict."""
    paths, root = list_inputs(source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_file = out_dir / RESULTS_FILE
    if not resume and results_file.exists() and results_file.stat().st_size:
        raise UserError(f"{results_file} exists: pass --resume to continue it, or another --out")
    job = ImageJob(model, settings, out_dir, root)
    for stale in out_dir.glob(".*"):  # temporary files of atomic writes cut short by a kill
        if stale.suffix in (".png", ".npz") and stale.is_file():
            stale.unlink()
    done = completed_paths(results_file)
    todo = [p for p in paths if os.path.realpath(p) not in done]  # however the path was typed
    summary = {"images": 0, "errors": 0, "skipped_done": len(paths) - len(todo), "failed": []}
    start = time.perf_counter()
    stop = threading.Event()
    bar = tqdm(total=len(todo), unit="img", file=sys.stderr, disable=not progress)
    try:
        with open(results_file, "a", encoding="utf-8") as handle, \
                ThreadPoolExecutor(1, thread_name_prefix="gradcam-write") as writer:
            writing = None  # the previous batch's outputs are written while this batch computes
            for batch in _batched(_decoded_stream(job, todo, 2 * settings.batch_size, stop),
                                  settings.batch_size):
                explained = job.explain(batch)
                if writing is not None:
                    writing.result()  # one batch in flight at most: memory stays fixed
                writing = writer.submit(_finish, job, explained, handle, summary, bar)
            if writing is not None:
                writing.result()
    finally:
        stop.set()
        bar.close()
    seconds = time.perf_counter() - start
    summary.update(seconds=round(seconds, 3), peak_rss_mb=round(peak_rss_mb(), 1),
                   images_per_second=round(summary["images"] / seconds, 3) if seconds else 0.0)
    return summary


def _batched(items, size):
    """Lists of ``size`` consecutive items (the last may be shorter)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _finish(job, explained, handle, summary, bar):
    """Write a batch's outputs, then append its JSON lines (a line means the image is done)."""
    for record in job.write(explained):
        _append_line(handle, record)
        if "error" in record:
            summary["errors"] += 1
            summary["failed"].append(record)
        else:
            summary["images"] += 1
    bar.update(len(explained[0]))
