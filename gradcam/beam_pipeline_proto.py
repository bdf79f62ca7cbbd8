"""PROTOTYPE (measurement only, not wired to the CLI): variants of gradcam/beam_pipeline.py to find
where ``gradcam beam`` loses time against ``gradcam batch``. The lead applies what pays.

Variants of the steps after ``ListImages``:

- ``current``: as gradcam/beam_pipeline.py (adaptive ``BatchElements(1, batch_size)``, then one
  thread decodes, explains and writes each batch in turn);
- ``fixed``: the same DoFn fed batches of exactly ``batch_size`` (``BatchElements(n, n)``);
- ``chunks``: ``BatchElements`` of exactly ``CHUNK_BATCHES`` x ``batch_size`` paths; each chunk
  runs through a small local copy of batch mode's overlap (decoding threads ahead, explaining in
  the DoFn's thread, writing in a writer thread one batch behind), nothing kept between calls;
- ``async``: no BatchElements; ``ExplainPaths`` takes single paths, decodes them in a small thread
  pool as they arrive, explains each full batch in one thread and writes its outputs in another
  (as ``gradcam batch`` overlaps them), at most ``in_flight`` batches behind (memory flat), and
  yields each batch's JSON lines once its outputs are written (the rest at ``finish_bundle``).

``threads``: TF intra-op threads of each worker's model (None: TF's default, all cores), so that
workers x threads does not exceed the cores.

Setting GRADCAM_BEAM_TRACE=FILE makes every worker process append JSON lines (pid, event, wall
time, batch size) to FILE, to see model loading and batch sizes inside multi-processing workers.

    python -m gradcam.beam_pipeline_proto VARIANT INPUT OUT [--threads N] [beam flags ...]
"""
import argparse
import json
import os
import shutil
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import GlobalWindows

from gradcam.batch import RESULTS_FILE, ImageJob, JobSettings, list_inputs
from gradcam.beam_pipeline import (DEFAULT_FLAGS, TEMP_GLOB, ExplainBatches, _worker_user_error,
                                   check_settings)
from gradcam.errors import UserError

VARIANTS = ("current", "fixed", "async", "chunks")
CHUNK_BATCHES = 8  # "chunks": batches per Beam element
_TRACE_LOCK = threading.Lock()


def trace(event, **values):
    """Append one JSON line to $GRADCAM_BEAM_TRACE (no-op when unset)."""
    target = os.environ.get("GRADCAM_BEAM_TRACE")
    if target:
        line = json.dumps({"pid": os.getpid(), "event": event, "t": time.time(), **values})
        with _TRACE_LOCK, open(target, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def _shared_model(settings, threads):
    """The process's model: built once, with ``threads`` intra-op threads when given."""
    from gradcam.model import Model
    from gradcam.model_cache import PROCESS_MODELS

    if threads is None:
        return PROCESS_MODELS.get(settings.model, settings.checkpoint)
    key = (f"{settings.model}@{threads}", settings.checkpoint)
    with PROCESS_MODELS._lock:  # prototype: a threads-aware cache key
        if key not in PROCESS_MODELS._models:
            from gradcam.model_cache import SharedModel
            PROCESS_MODELS._models[key] = SharedModel(Model(settings.model, settings.checkpoint,
                                                            threads=threads))
        return PROCESS_MODELS._models[key]


class TracedExplainBatches(ExplainBatches):
    """ExplainBatches with trace lines and optional TF threads."""

    def __init__(self, settings, out_dir, root, threads=None):
        super().__init__(settings, out_dir, root)
        self.threads = threads

    def setup(self):
        trace("setup_start")
        shared = _shared_model(self.settings, self.threads)
        self.job = ImageJob(shared.model, self.settings, self.out_dir, self.root, shared.running)
        trace("setup_end")

    def process(self, paths):
        trace("batch", size=len(paths))
        yield from super().process(paths)
        trace("batch_done")

    def finish_bundle(self):
        trace("finish_bundle")

    def teardown(self):
        trace("teardown")


class ExplainPaths(beam.DoFn):
    """Single image paths in, one JSON line per image out; decoding, explaining and writing of
    consecutive batches overlap (see the module docstring)."""

    def __init__(self, settings, out_dir, root, threads=None, decoders=2, in_flight=2):
        self.settings, self.out_dir, self.root = settings, str(out_dir), str(root)
        self.threads, self.decoders, self.in_flight = threads, decoders, in_flight

    def setup(self):
        trace("setup_start")
        shared = _shared_model(self.settings, self.threads)
        self.job = ImageJob(shared.model, self.settings, self.out_dir, self.root, shared.running)
        self.decoding = ThreadPoolExecutor(self.decoders, thread_name_prefix="beam-decode")
        self.explaining = ThreadPoolExecutor(1, thread_name_prefix="beam-explain")
        self.writing = ThreadPoolExecutor(1, thread_name_prefix="beam-write")
        trace("setup_end")

    def start_bundle(self):
        self.gathering, self.batches = [], deque()

    def process(self, path):
        self.gathering.append(self.decoding.submit(self.job.decode, path))
        if len(self.gathering) >= self.settings.batch_size:
            self._submit()
        while self.batches and (self.batches[0].done() or len(self.batches) > self.in_flight):
            yield from self.batches.popleft().result()

    def finish_bundle(self):
        if self.gathering:
            self._submit()
        while self.batches:
            for line in self.batches.popleft().result():
                yield GlobalWindows.windowed_value_at_end_of_window(line)

    def _submit(self):
        decodes, self.gathering = self.gathering, []
        trace("batch", size=len(decodes))
        explained = self.explaining.submit(lambda: self.job.explain([d.result() for d in decodes]))
        self.batches.append(self.writing.submit(
            lambda: [json.dumps(r) for r in self.job.write(explained.result())]))

    def teardown(self):
        trace("teardown")
        for pool in ("decoding", "explaining", "writing"):
            if hasattr(self, pool):
                getattr(self, pool).shutdown(wait=True)


class ExplainChunks(beam.DoFn):
    """Lists of paths (several batches) in, one JSON line per image out; within a list, decoding
    runs ahead in threads and writing one batch behind in a thread, as in ``gradcam batch``."""

    def __init__(self, settings, out_dir, root, threads=None, decoders=2):
        self.settings, self.out_dir, self.root = settings, str(out_dir), str(root)
        self.threads, self.decoders = threads, decoders

    def setup(self):
        trace("setup_start")
        shared = _shared_model(self.settings, self.threads)
        self.job = ImageJob(shared.model, self.settings, self.out_dir, self.root, shared.running)
        self.decoding = ThreadPoolExecutor(self.decoders, thread_name_prefix="beam-decode")
        self.writing = ThreadPoolExecutor(1, thread_name_prefix="beam-write")
        trace("setup_end")

    def process(self, paths):
        size = self.settings.batch_size
        decoded = [self.decoding.submit(self.job.decode, path) for path in paths]
        writing = None
        for first in range(0, len(paths), size):
            trace("batch", size=len(decoded[first:first + size]))
            explained = self.job.explain([d.result() for d in decoded[first:first + size]])
            if writing is not None:
                yield from writing.result()
            writing = self.writing.submit(
                lambda e=explained: [json.dumps(r) for r in self.job.write(e)])
        if writing is not None:
            yield from writing.result()

    def teardown(self):
        trace("teardown")
        for pool in ("decoding", "writing"):
            if hasattr(self, pool):
                getattr(self, pool).shutdown(wait=True)


def build_pipeline(pipeline, source, out_dir, settings, variant="async", threads=None):
    """``gradcam.beam_pipeline.build_pipeline`` with the explain step of ``variant``."""
    paths, root = list_inputs(source)
    listed = pipeline | "ListImages" >> beam.Create([str(p) for p in paths])
    if variant == "async":
        lines = listed | "ExplainAndWrite" >> beam.ParDo(ExplainPaths(settings, out_dir, root,
                                                                      threads))
    elif variant == "chunks":
        chunk = CHUNK_BATCHES * settings.batch_size
        lines = (listed
                 | "Batch" >> beam.BatchElements(min_batch_size=chunk, max_batch_size=chunk)
                 | "ExplainAndWrite" >> beam.ParDo(ExplainChunks(settings, out_dir, root, threads)))
    else:
        smallest = settings.batch_size if variant == "fixed" else 1
        lines = (listed
                 | "Batch" >> beam.BatchElements(min_batch_size=smallest,
                                                 max_batch_size=settings.batch_size)
                 | "ExplainAndWrite" >> beam.ParDo(TracedExplainBatches(settings, out_dir, root,
                                                                        threads)))
    return lines | "WriteResults" >> beam.io.WriteToText(str(Path(out_dir) / RESULTS_FILE),
                                                         shard_name_template="", num_shards=1)


def run_pipeline(source, out_dir, settings, beam_flags=(), variant="async", threads=None):
    """As ``gradcam.beam_pipeline.run_pipeline``, with ``variant`` and ``threads``."""
    check_settings(settings)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier = set(out_dir.glob(TEMP_GLOB))
    try:
        with beam.Pipeline(options=PipelineOptions(DEFAULT_FLAGS + list(beam_flags))) as pipeline:
            build_pipeline(pipeline, source, out_dir, settings, variant, threads)
    except BaseException as exc:
        for staging in set(out_dir.glob(TEMP_GLOB)) - earlier:
            shutil.rmtree(staging, ignore_errors=True)
        message = _worker_user_error(exc)
        if message is None:
            raise
        raise UserError(message) from None
    return out_dir / RESULTS_FILE


def main(argv=None):
    import logging

    parser = argparse.ArgumentParser(description="prototype Beam variants (measurement)")
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("input")
    parser.add_argument("out")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--batch-size", type=int, default=8)
    args, flags = parser.parse_known_args(argv)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    start = time.perf_counter()
    trace("run_start", variant=args.variant)
    results = run_pipeline(args.input, args.out, JobSettings(batch_size=args.batch_size), flags,
                           args.variant, args.threads)
    seconds = time.perf_counter() - start
    trace("run_end")
    lines = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    print(json.dumps({"variant": args.variant, "threads": args.threads, "flags": flags,
                      "images": len(lines), "errors": sum("error" in r for r in lines),
                      "seconds": round(seconds, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
