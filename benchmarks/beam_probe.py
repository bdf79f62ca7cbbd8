"""Where ``gradcam beam`` spends its time, beside ``gradcam batch`` on the same folder (the
steady-state comparison, model built once for both, is benchmarks/throughput.py's ``beam_rows``).

Wraps (monkeypatches, for this process only) the Beam DoFn and the shared ``ImageJob`` with
timers, then runs either mode once in this process and prints one JSON line:

- ``import_s``: importing apache_beam and the pipeline module (beam) or gradcam.batch (batch);
- ``model_s``: building the model (batch: before the run; beam: inside ``DoFn.setup``);
- ``run_s``: ``run_batch`` / ``run_pipeline`` wall-clock (beam: includes setup and WriteToText);
- ``setup_calls``, ``process_calls``, ``batch_sizes``: what the runner actually did (Beam: paths
  per element, a chunk of several batches);
- ``decode_s``, ``explain_s``, ``write_s``: time inside those steps, summed over calls (decode and
  write run in their own threads in both modes, overlapping the explaining);
- ``first_explain_s``: the first explain call (builds the gradient ops).

    python benchmarks/beam_probe.py batch DIR
    python benchmarks/beam_probe.py beam DIR [beam flags, e.g. --direct_num_workers=2 ...]

Only the in-process runner is instrumented (multi-processing workers are other processes: their
counters stay in them; ``run_s`` still holds).
"""

import json
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STATS = defaultdict(float)
BATCH_SIZES = []
TIMELINE = {}  # event -> seconds since the run started (first occurrence; "_last" kept too)
_LOCK = threading.Lock()


def _add(key, seconds):
    with _LOCK:
        STATS[key] += seconds


def _mark(event):
    now = time.perf_counter() - TIMELINE.get("_start", time.perf_counter())
    with _LOCK:
        TIMELINE.setdefault(event, round(now, 3))
        TIMELINE[event + "_last"] = round(now, 3)


def _timed(owner, name, key, first=None):
    """Replace ``owner.name`` by a version that adds its wall time to STATS[key]."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - start
            _add(key, seconds)
            _add(key[:-2] + "_calls", 1)
            if first and first not in STATS:
                _add(first, seconds)

    setattr(owner, name, wrapper)


def instrument_job():
    from gradcam.batch import ImageJob

    _timed(ImageJob, "decode", "decode_s")
    _timed(ImageJob, "explain", "explain_s", first="first_explain_s")
    _timed(ImageJob, "write_one", "write_s")


def instrument_dofn():
    import gradcam.beam_pipeline as pipeline
    from gradcam.beam_pipeline import ExplainChunks

    _timed(pipeline, "check_settings", "check_settings_s")
    _timed(ExplainChunks, "setup", "setup_s")
    original = ExplainChunks.process

    def process(self, chunk):
        _mark("process_start")
        BATCH_SIZES.append(len(chunk[1]))  # (chunk key, its files)
        start = time.perf_counter()
        yield from original(self, chunk)
        _add("process_s", time.perf_counter() - start)
        _mark("process_end")

    ExplainChunks.process = process


def run_batch_mode(folder, out):
    start = time.perf_counter()
    from gradcam.batch import JobSettings, run_batch
    from gradcam.model import Model

    STATS["import_s"] = time.perf_counter() - start
    instrument_job()
    start = time.perf_counter()
    model = Model("efficientnet_lite0")
    STATS["model_s"] = time.perf_counter() - start
    start = time.perf_counter()
    summary = run_batch(model, folder, out, JobSettings(), progress=False)
    STATS["run_s"] = time.perf_counter() - start
    return summary["images"]


def run_beam_mode(folder, out, flags):
    start = time.perf_counter()
    from gradcam.batch import JobSettings
    from gradcam.beam_pipeline import run_pipeline

    STATS["import_s"] = time.perf_counter() - start
    instrument_job()
    instrument_dofn()
    start = TIMELINE["_start"] = time.perf_counter()
    results = run_pipeline(folder, out, JobSettings(), flags)
    _mark("run_end")
    STATS["run_s"] = time.perf_counter() - start
    STATS["model_s"] = STATS.get("setup_s", float("nan"))
    return sum(1 for line in Path(results).read_text().splitlines() if line.strip())


def main(argv=None):
    import logging

    argv = sys.argv[1:] if argv is None else argv
    mode, folder, flags = argv[0], argv[1], argv[2:]
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        if mode == "batch":
            images = run_batch_mode(folder, out)
        else:
            images = run_beam_mode(folder, out, flags)
    row = {
        "mode": mode,
        "flags": flags,
        "images": images,
        "total_s": time.perf_counter() - start,
        **{k: round(v, 3) for k, v in sorted(STATS.items())},
    }
    row["images_per_second_run"] = round(images / STATS["run_s"], 2)
    row["images_per_second_after_model"] = round(
        images / (STATS["run_s"] - (STATS["model_s"] if mode != "batch" else 0.0)), 2
    )
    if len(TIMELINE) > 1:
        row["timeline"] = {k: v for k, v in TIMELINE.items() if not k.startswith("_")}
    if BATCH_SIZES:
        row["batch_sizes"] = {str(k): BATCH_SIZES.count(k) for k in sorted(set(BATCH_SIZES))}
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
