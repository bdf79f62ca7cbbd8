"""Run the batch job (``gradcam batch``) as an Apache Beam pipeline. Options this command does not
know go to Beam's PipelineOptions: the DirectRunner runs locally (default), ``--runner
DataflowRunner --project P --region R --temp_location gs://...`` (or FlinkRunner, SparkRunner)
runs elsewhere. Put Beam options after INPUT, or write them as --name=value. Workers build a
registered network (--model, --checkpoint) or load a --model-file (with --trust-model-code,
--preprocessing, --image-size; remote workers need the file at the same path) with TensorFlow's
default threads: the tensor overrides, --num-classes, --labels and --threads are refused; use
gradcam batch for them. Settings and the checkpoint (or the model file) are checked before the
pipeline starts. Each worker runs gradcam batch's decode/explain/write overlap on chunks of 8
batches; results.jsonl is the pipeline's output (--outputs must keep jsonl)."""

import json
import logging
import time

from gradcam.commands.batch import add_job_arguments, job_settings, print_summary
from gradcam.commands.common import check_model_flags, require_extra
from gradcam.errors import UserError

NAME = "beam"
HELP = "explain a folder of images with an Apache Beam pipeline (DirectRunner by default)"
REFUSED = ("input_tensor", "logits_tensor", "layer_tensor", "num_classes", "labels", "threads")


def add_arguments(parser):
    add_job_arguments(parser)
    parser.set_defaults(pass_unknown_args=True)


def _refuse_batch_only_flags(args):
    """UserError naming the model flags given that the Beam workers do not carry."""
    given = [f"--{name.replace('_', '-')}" for name in REFUSED if getattr(args, name) is not None]
    if given:
        raise UserError(
            f"gradcam beam does not take {', '.join(given)} (its workers build a "
            "registered --model or load a --model-file); use gradcam batch"
        )


def run(args):
    require_extra("apache_beam", "beam", "beam")
    from gradcam.batch import list_inputs, peak_rss_mb
    from gradcam.beam_pipeline import run_pipeline

    _refuse_batch_only_flags(args)
    check_model_flags(args)
    settings = job_settings(args)
    paths, _ = list_inputs(args.input)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    # A failing DoFn's traceback is logged there; run_pipeline reports the error itself.
    logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)
    start = time.perf_counter()
    results = run_pipeline(args.input, args.out, settings, args.extra_args)
    seconds = time.perf_counter() - start
    records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    failed = [r for r in records if "error" in r]
    print_summary(
        {
            "images": len(records) - len(failed),
            "errors": len(failed),
            "skipped_done": 0,
            "failed": failed,
            "seconds": round(seconds, 3),
            "images_per_second": round((len(records) - len(failed)) / seconds, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "inputs": len(paths),
        },
        False,
        "including the pipeline's start and each worker's model load",
    )
    return 0
