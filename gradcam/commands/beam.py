"""Run the batch job (``gradcam batch``) as an Apache Beam pipeline. INPUT and --out are local
paths or URLs of any Beam filesystem (gs://, s3://, hdfs://, ...). Options this command does not
know go to Beam's PipelineOptions: ``--runner direct`` (default), ``dask`` (with
``--dask_client_address tcp://HOST:PORT``), ``dataflow`` (``--project P --region R
--temp_location gs://...``), ``flink``, ``spark`` or ``prism``; S3 takes ``--s3_endpoint_url``
and the other ``--s3_*`` options. Put Beam options after INPUT, or write them as --name=value.
Workers build a registered network (--model, --checkpoint, a path or URL) or load a --model-file
(a path or URL, fetched once per worker; with --trust-model-code, --preprocessing,
--image-size) with TensorFlow's default threads: the tensor overrides, --num-classes, --labels
and --threads are refused; use gradcam batch for them. The runner's options, the settings, the
checkpoint (or the model file), INPUT and OUT are checked before the pipeline starts. Each worker
runs gradcam batch's decode/explain/write overlap on chunks of 8 batches; results.jsonl is the
pipeline's output (--outputs must keep jsonl); --resume skips images whose record and outputs
are in OUT (docs/beyond-one-machine.md)."""

import json
import logging
import time

from gradcam.commands.batch import add_job_arguments, job_settings, print_summary
from gradcam.commands.common import check_model_flags, require_extra
from gradcam.errors import UserError

NAME = "beam"
HELP = "explain a folder of images with an Apache Beam pipeline (DirectRunner by default)"
REFUSED = ("input_tensor", "logits_tensor", "layer_tensor", "num_classes", "labels", "threads")
SHOWN_FAILURES = 20  # unreadable images listed in the summary (all are in results.jsonl)


def add_arguments(parser):
    add_job_arguments(parser)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue OUT: skip images whose record (OUT/.records) and outputs are in place",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(pass_unknown_args=True)


def _refuse_batch_only_flags(args):
    """UserError naming the model flags given that the Beam workers do not carry."""
    given = [f"--{name.replace('_', '-')}" for name in REFUSED if getattr(args, name) is not None]
    if given:
        raise UserError(
            f"gradcam beam does not take {', '.join(given)} (its workers build a "
            "registered --model or load a --model-file); use gradcam batch"
        )


def read_summary(results, counts):
    """The run's summary: this run's ``counts``, and the first unreadable images of
    results.jsonl (read line by line)."""
    from apache_beam.io.filesystems import FileSystems

    failed = []
    with FileSystems.open(results) as handle:
        for line in handle:
            if b'"error"' in line and len(failed) < SHOWN_FAILURES:
                record = json.loads(line)
                if "error" in record:
                    failed.append(record)
    return dict(counts, failed=failed)


def run(args):
    require_extra("apache_beam", "beam", "beam")
    from gradcam.batch import finish_summary
    from gradcam.beam_pipeline import plan_run, run_planned

    _refuse_batch_only_flags(args)
    check_model_flags(args)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    # A failing DoFn's traceback is logged there; run_planned reports the error itself.
    logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)
    settings, plan = plan_run(
        args.input, args.out, job_settings(args), args.extra_args, args.resume
    )
    start = time.perf_counter()
    counts = run_planned(plan, settings, args.resume)
    summary = finish_summary(read_summary(plan.results, counts), time.perf_counter() - start)
    print_summary(summary, args.json, "including the pipeline's start and each worker's model load")
    return 0
