"""The local batch run: plan (resume check and input listing, once), then stream the images
through an ``ImageJob`` and append each batch's JSON lines once its files are in place."""

import json
import os
import resource
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from tqdm import tqdm

from gradcam.batch.inputs import Inputs, list_inputs
from gradcam.batch.job import ImageJob
from gradcam.batch.stream import ExplainStream
from gradcam.errors import UserError

RESULTS_FILE = "results.jsonl"


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
                f"{results_file}:{number}: not a gradcam result line; use another {{argument}}",
                "out_dir",
            ) from None
    return done


def check_resume(settings, resume):
    """UserError for ``--resume`` without jsonl among the outputs (its lines are what a resumed
    run skips: without them nothing says which images are done)."""
    if resume and "jsonl" not in settings.outputs:
        raise UserError(
            "--resume needs jsonl in {argument} (its lines mark the images done)", "outputs"
        )


def plan_inputs(source, settings, resume=False):
    """The checked plan of a run: ``check_resume``, then the ``Inputs`` of ``source`` (listed
    once; ``run_batch`` takes this plan instead of listing again)."""
    check_resume(settings, resume)
    return list_inputs(source)


def _append_lines(handle, records):
    """Append one JSON line per record, then flush and fsync once."""
    handle.write("".join(json.dumps(record) + "\n" for record in records))
    handle.flush()
    os.fsync(handle.fileno())


def peak_rss_mb():
    """Peak resident memory of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_batch(model, source, out_dir, settings, resume=False, progress=True):
    """Explain every image of ``source`` into ``out_dir``; returns the summary dict.

    ``source`` is a folder, glob or file, or its plan from ``plan_inputs`` (then neither the
    listing nor the resume check is repeated).
    """
    inputs = source if isinstance(source, Inputs) else plan_inputs(source, settings, resume)
    paths, root = inputs
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_file = out_dir / RESULTS_FILE
    lines = "jsonl" in settings.outputs
    if lines and not resume and results_file.exists() and results_file.stat().st_size:
        raise UserError(
            f"{results_file} exists: continue it with {{argument}}, or write elsewhere", "resume"
        )
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
                tally(summary, records)
                bar.update(len(records))
    finally:
        bar.close()
    return finish_summary(summary, time.perf_counter() - start)


def tally(summary, records):
    """Count ``records`` into ``summary``: explained images, and errors with their records."""
    for record in records:
        if "error" in record:
            summary["errors"] += 1
            summary["failed"].append(record)
        else:
            summary["images"] += 1


def finish_summary(summary, seconds):
    """``summary`` with the run's seconds, speed and peak memory."""
    summary.update(
        seconds=round(seconds, 3),
        peak_rss_mb=round(peak_rss_mb(), 1),
        images_per_second=round(summary["images"] / seconds, 3) if seconds else 0.0,
    )
    return summary
