"""Run the batch job (``gradcam batch``) as an Apache Beam pipeline. Options this command does not
know go to Beam's PipelineOptions: the DirectRunner runs locally (default), ``--runner
DataflowRunner --project P --region R --temp_location gs://...`` (or FlinkRunner, SparkRunner)
runs elsewhere. Put Beam options after INPUT, or write them as --name=value."""
from gradcam.commands.batch import add_job_arguments, job_settings, print_summary

NAME = "beam"
HELP = "explain a folder of images with an Apache Beam pipeline (DirectRunner by default)"


def add_arguments(parser):
    add_job_arguments(parser)
    parser.set_defaults(pass_unknown_args=True)


def _check_settings(settings):
    """Fail on the driver, before any worker starts, for what can be checked without the model."""
    from gradcam.labels import labels_for, resolve_class
    from nets.nets_factory import get_network

    if settings.target_class is not None:
        spec = get_network(settings.model)
        resolve_class(settings.target_class, labels_for(spec, spec.num_classes))


def run(args):
    import json
    import logging
    import time

    from gradcam.batch import list_inputs, peak_rss_mb
    from gradcam.beam_pipeline import run_pipeline
    from gradcam.errors import UserError

    if args.num_classes or args.labels:
        raise UserError("gradcam beam does not take --num-classes/--labels; use gradcam batch")
    settings = job_settings(args)
    _check_settings(settings)
    paths, _ = list_inputs(args.input)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    start = time.perf_counter()
    results = run_pipeline(args.input, args.out, settings, args.extra_args)
    seconds = time.perf_counter() - start
    records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    failed = [r for r in records if "error" in r]
    print_summary({"images": len(records) - len(failed), "errors": len(failed), "skipped_done": 0,
                   "failed": failed, "seconds": round(seconds, 3),
                   "images_per_second": round((len(records) - len(failed)) / seconds, 3),
                   "peak_rss_mb": round(peak_rss_mb(), 1), "inputs": len(paths)}, False)
    return 0
