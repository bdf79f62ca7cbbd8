"""Explain every image of a directory (recursive) or glob into OUT: per image the outputs chosen
with --outputs (an overlay PNG, an NPZ, a line of OUT/results.jsonl; all three by default);
unreadable files are reported and skipped. ``--resume`` continues a killed run without losing or
repeating an image. Photos are decoded at the size the network needs (--exact-decode: every
pixel)."""

import json
import sys

from gradcam.commands.common import (
    add_class_argument,
    add_method_arguments,
    add_model_arguments,
    load_model,
)
from gradcam.postprocess import STYLES

NAME = "batch"
HELP = "explain a folder of images (streamed, resumable, results.jsonl)"


def add_job_arguments(parser):
    """Arguments shared by ``gradcam batch`` and ``gradcam beam``."""
    parser.add_argument("input", metavar="INPUT_DIR_OR_GLOB")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    add_model_arguments(parser)
    add_method_arguments(parser)
    parser.set_defaults(batch_size=8)
    add_class_argument(
        parser, help_text="target class for every image (name or index); default: its top class"
    )
    parser.add_argument("--top-k", type=int, default=5, help="classes listed per image")
    parser.add_argument("--style", default="heatmap", choices=STYLES)
    parser.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity")
    parser.add_argument(
        "--outputs",
        default="png,npz,jsonl",
        metavar="LIST",
        help="what to write per image, comma-separated: png (overlay), npz "
        "(arrays), jsonl (a line of OUT/results.jsonl)",
    )
    parser.add_argument(
        "--npz-maps",
        default="full",
        choices=("full", "lowres"),
        help="NPZ maps: full (the S x S map and, for the CAM family, the "
        "feature-resolution one) or lowres (only the feature-resolution map)",
    )
    parser.add_argument(
        "--exact-decode",
        action="store_true",
        help="decode every pixel of large photos (else JPEGs at 1/2, 1/4 or 1/8 "
        "scale while that still covers the network's input twice over; README "
        "'Batch and Beam' gives the pixel difference)",
    )
    parser.add_argument(
        "--io-threads",
        type=int,
        metavar="N",
        help="threads decoding, and threads writing, beside the network "
        "(None: the number of cores, at most 16)",
    )


def job_settings(args):
    from gradcam.batch import JobSettings, parse_outputs
    from gradcam.commands.method_options import options_for, parse_options
    from gradcam.methods import get_method
    from gradcam.score import Score

    options = options_for(
        get_method(args.method), parse_options(args.options), strict=True, seed=args.seed
    )
    return JobSettings(
        model=args.model,
        checkpoint=args.checkpoint,
        model_file=args.model_file,
        trust_model_code=args.trust_model_code,
        preprocessing=args.preprocessing,
        image_size=args.image_size,
        method=args.method,
        target_class=args.classes,
        layer=args.layer,
        top_k=args.top_k,
        style=args.style,
        alpha=args.alpha,
        batch_size=args.batch_size,
        central_fraction=args.central_fraction,
        options=tuple(sorted(options.items())),
        score=Score(kind=args.score, contrast=args.contrast),
        outputs=parse_outputs(args.outputs),
        npz_maps=args.npz_maps,
        exact_decode=args.exact_decode,
        io_threads=args.io_threads,
    )


def add_arguments(parser):
    add_job_arguments(parser)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue OUT/results.jsonl: skip images that already have a line",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def print_summary(summary, as_json, span="once the model is loaded"):
    if as_json:
        print(json.dumps(summary))
        return
    print(
        f"{summary['images']} images explained, {summary['errors']} unreadable, "
        f"{summary['skipped_done']} already done; {summary['images_per_second']:.2f} images/s "
        f"{span}, peak RSS {summary['peak_rss_mb']:.0f} MiB"
    )
    for failure in summary["failed"]:
        print(f"  skipped: {failure['error']}")


def run(args):
    from gradcam.batch import plan_inputs, run_batch

    settings = job_settings(args)
    inputs = plan_inputs(args.input, settings, args.resume)  # before the slow model load
    model = load_model(args)
    summary = run_batch(model, inputs, args.out, settings, args.resume, not args.no_progress)
    print_summary(summary, args.json)
    sys.stdout.flush()
    return 0
