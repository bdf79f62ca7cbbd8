"""The batch job as an Apache Beam pipeline: image paths -> batches -> explained and written by
workers that each load the model once (``DoFn.setup``) -> OUT/results.jsonl.

Runs on the DirectRunner by default; any Beam option (``--runner DataflowRunner``, ``--project``,
``--temp_location``, ...) passes through to ``PipelineOptions``. Outputs are written by the same
``gradcam.batch.ImageJob`` as ``gradcam batch``, so both modes produce the same files. Workers
read images and write outputs with local file paths, so remote runners need a shared filesystem.
"""
import json

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from gradcam.batch import RESULTS_FILE, ImageJob, list_inputs

# Light local defaults; flags given by the user come later and win.
DEFAULT_FLAGS = ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]


class ExplainBatches(beam.DoFn):
    """Explains lists of image paths; yields one JSON line per image."""

    def __init__(self, settings, out_dir, root):
        self.settings, self.out_dir, self.root = settings, str(out_dir), str(root)
        self.job = None

    def setup(self):
        from gradcam.model_cache import PROCESS_MODELS

        shared = PROCESS_MODELS.get(self.settings.model, self.settings.checkpoint)
        self.job = ImageJob(shared.model, self.settings, self.out_dir, self.root, shared.running)

    def process(self, paths):
        for record in self.job.process([self.job.decode(path) for path in paths]):
            yield json.dumps(record)


def build_pipeline(pipeline, source, out_dir, settings):
    """Add the explain-and-write steps for every image of ``source`` to ``pipeline``."""
    paths, root = list_inputs(source)
    return (pipeline
            | "ListImages" >> beam.Create([str(p) for p in paths])
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=settings.batch_size)
            | "ExplainAndWrite" >> beam.ParDo(ExplainBatches(settings, out_dir, root))
            | "WriteResults" >> beam.io.WriteToText(str(out_dir / RESULTS_FILE),
                                                    shard_name_template="", num_shards=1))


def run_pipeline(source, out_dir, settings, beam_flags=()):
    """Run the pipeline to completion; ``beam_flags`` are Beam command-line options."""
    from pathlib import Path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = PipelineOptions(DEFAULT_FLAGS + list(beam_flags))
    with beam.Pipeline(options=options) as pipeline:
        build_pipeline(pipeline, source, out_dir, settings)
    return out_dir / RESULTS_FILE
