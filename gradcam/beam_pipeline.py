"""The batch job as an Apache Beam pipeline: chunks of ``CHUNK_BATCHES`` x batch-size image paths
-> explained and written by workers that each load the model once (``DoFn.setup``) ->
OUT/results.jsonl.

Within a chunk a worker runs ``gradcam batch``'s own ``ExplainStream`` (decoding threads ahead of
the network, writing threads behind it), so one worker goes at batch mode's speed. The driver,
which lists the folder anyway, cuts the chunks (``beam.Create`` of lists of paths): Beam's
adaptive ``BatchElements`` sized its batches by the time per element and, with decoding and
writing counted in, settled on 1-4 images, far below the network's batched speed; fixed chunks
also spare its stage (about 0.4 s of the DirectRunner's per-run cost).

Runs on the DirectRunner by default; any Beam option (``--runner DataflowRunner``, ``--project``,
``--temp_location``, ...) passes through to ``PipelineOptions``. Outputs are written by the same
``gradcam.batch.ImageJob`` as ``gradcam batch``, so both modes produce the same files. Workers
read images and write outputs with local file paths, so remote runners need a shared filesystem.
Settings are checked on the driver first; a worker's UserError comes back as one UserError, and a
failed run leaves no ``beam-temp-*`` folder in OUT.
"""

import json
import re
import shutil
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from gradcam.batch import RESULTS_FILE, ExplainStream, ImageJob, list_inputs
from gradcam.checkpoints import find_checkpoint
from gradcam.errors import UserError
from gradcam.labels import labels_for, resolve_class
from gradcam.loaders.slim import network_spec
from gradcam.model_cache import PROCESS_MODELS

# Light local defaults; flags given by the user come later and win.
DEFAULT_FLAGS = [
    "--runner=DirectRunner",
    "--direct_running_mode=in_memory",
    "--direct_num_workers=1",
]
TEMP_GLOB = "beam-temp-*"  # WriteToText's staging folders
CHUNK_BATCHES = 8  # batches per Beam element: the decode/write overlap restarts at each one


class ExplainChunks(beam.DoFn):
    """Explains lists of image paths (a chunk of several batches); yields one JSON line per image,
    each once that image's files are in place."""

    def __init__(self, settings, out_dir, root):
        self.settings, self.out_dir, self.root = settings, str(out_dir), str(root)
        self.stream = None

    def setup(self):
        self.stream = ExplainStream(
            ImageJob(settings_model(self.settings), self.settings, self.out_dir, self.root)
        )

    def process(self, paths):
        for records in self.stream.run(paths):
            for record in records:
                yield json.dumps(record)

    def teardown(self):
        if self.stream is not None:
            self.stream.close()


def settings_model(settings):
    """The process's model of ``settings``: its model file (loaded once per process; workers
    need the file at the same path) or its registered network."""
    if settings.model_file:
        return PROCESS_MODELS.get(
            settings.model_file,
            trust_code=settings.trust_model_code,
            preprocessing=settings.preprocessing,
            image_size=settings.image_size,
        )
    return PROCESS_MODELS.get(settings.model, settings.checkpoint)


def check_settings(settings):
    """UserError for what can be checked before the pipeline: the outputs, the classes and the
    checkpoint, or a model file, loaded here (the settings checked themselves when made)."""
    if "jsonl" not in settings.outputs:
        raise UserError(
            "gradcam beam always writes results.jsonl (the pipeline's output): keep "
            "jsonl in {argument}",
            "outputs",
        )
    if settings.model_file:
        model = settings_model(settings)
        for name in (settings.target_class, settings.score.contrast):
            if name is not None:
                model.class_index(name)
        return
    spec = network_spec(settings.model)
    for name in (settings.target_class, settings.score.contrast):
        if name is not None:
            resolve_class(name, labels_for(spec.label_offset, spec.num_classes))
    find_checkpoint(settings.checkpoint, spec)


def build_pipeline(pipeline, source, out_dir, settings):
    """Add the explain-and-write steps for every image of ``source`` to ``pipeline``."""
    paths, root = list_inputs(source)
    size = CHUNK_BATCHES * settings.batch_size
    chunks = [[str(p) for p in paths[first : first + size]] for first in range(0, len(paths), size)]
    return (
        pipeline
        | "ListImages" >> beam.Create(chunks)
        | "ExplainAndWrite" >> beam.ParDo(ExplainChunks(settings, out_dir, root))
        | "WriteResults"
        >> beam.io.WriteToText(str(out_dir / RESULTS_FILE), shard_name_template="", num_shards=1)
    )


def _worker_user_error(exc):
    """The message of the UserError behind ``exc``: Beam re-raises a worker's exception itself
    when the worker shares the driver's process, else as text ending in its traceback; or None."""
    if isinstance(exc, UserError):
        return str(exc)
    found = re.findall(r"^gradcam\.errors\.UserError: (.*)$", str(exc), re.MULTILINE)
    return found[-1] if found else None


def run_pipeline(source, out_dir, settings, beam_flags=()):
    """Check ``settings``, then run the pipeline to completion; ``beam_flags`` are Beam
    command-line options. On failure the staging folders of this run are removed."""
    check_settings(settings)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier = set(out_dir.glob(TEMP_GLOB))
    try:
        with beam.Pipeline(options=PipelineOptions(DEFAULT_FLAGS + list(beam_flags))) as pipeline:
            build_pipeline(pipeline, source, out_dir, settings)
    except BaseException as exc:
        for staging in set(out_dir.glob(TEMP_GLOB)) - earlier:
            shutil.rmtree(staging, ignore_errors=True)
        message = _worker_user_error(exc)
        if message is None:
            raise
        raise UserError(message) from None
    return out_dir / RESULTS_FILE
