"""Compare two versions of a model on one data set: both explain every image for the same class
(its class subfolder, else A's top class, or --class), the maps are compared in A's input frame
against A's own noise floor, and each class's audit strategies are matched between A and B.
Writes OUT/report.html (opens from disk) and OUT/diff.json. --fail-if turns the summary into a
gate for a training pipeline: exit status 1 and one line per figure that tripped it.

Model A takes the usual model flags (--model-file A, or --model NET --checkpoint A); model B is
--against FILE (a model file) or --against-checkpoint CKPT (the same --model)."""

import json
from pathlib import Path

from gradcam.arrays import frame_shape
from gradcam.commands.common import (
    add_model_arguments,
    check_model_flags,
    load_model,
    parse_methods,
)
from gradcam.errors import UserError
from gradcam.preprocessing import PREPROCESSING

NAME = "diff"
HELP = "did a new model version change its evidence? (report + gate)"


def add_arguments(parser):
    parser.add_argument("data", metavar="DATA", help="folder of images or of class subfolders")
    parser.add_argument("--out", required=True, metavar="DIR", help="report folder")
    add_model_arguments(parser)
    group = parser.add_argument_group("model B (the new version)")
    group.add_argument("--against", metavar="PATH", help="model B's file (Keras, SavedModel, .pb)")
    group.add_argument(
        "--against-checkpoint", metavar="CKPT", help="model B: the same --model, this checkpoint"
    )
    group.add_argument("--against-labels", metavar="FILE", help="label file of model B")
    group.add_argument(
        "--against-preprocessing",
        choices=sorted(PREPROCESSING),
        help="model B's preprocessing (model files; default raw)",
    )
    parser.add_argument(
        "--methods", help="comma-separated registered methods (default: grad_cam,layer_cam)"
    )
    parser.add_argument(
        "--class",
        dest="target",
        metavar="CLASS",
        help="explain this class (model A's name or index) in every image",
    )
    parser.add_argument("--classes", metavar="A,B", help="restrict a labelled folder to classes")
    parser.add_argument(
        "--class-map",
        metavar="FILE",
        help='JSON object {"A class": "B class"} for models whose label spaces differ',
    )
    parser.add_argument(
        "--fail-if",
        metavar="EXPR",
        help="gate, e.g. 'median_iou<0.5' or 'grad_cam.iou_drift>3, top1_agreement<0.9' "
        "(docs/diff.md lists the figures); exit 1 when any condition holds",
    )
    parser.add_argument("--fraction", type=float, default=0.15, help="area of the IoU masks")
    parser.add_argument(
        "--noise", type=float, default=1.0, help="grey levels of the floor's input noise"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--no-strategies", action="store_true", help="skip the per-class strategy clustering"
    )


def read_class_map(path) -> dict:
    """{A name: B name} from a JSON object file; UserError naming what is wrong."""
    try:
        mapping = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UserError(f"--class-map {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UserError(f"--class-map {path}: not JSON ({exc})") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise UserError(f'--class-map {path}: expected a JSON object {{"A class": "B class"}}')
    return mapping


def load_model_b(args):
    """Model B from --against or --against-checkpoint (A's other flags where they apply)."""
    from gradcam.model import Model

    if bool(args.against) == bool(args.against_checkpoint):
        raise UserError("give model B as --against FILE or --against-checkpoint CKPT (one)")
    if args.against:
        return Model.from_file(
            args.against,
            trust_code=args.trust_model_code,
            preprocessing=args.against_preprocessing,
            labels=args.against_labels,
            threads=args.threads,
        )
    if args.model_file:
        raise UserError("--against-checkpoint goes with --model, not --model-file")
    return Model(
        args.model,
        args.against_checkpoint,
        num_classes=args.num_classes,
        labels=args.against_labels or args.labels,
        threads=args.threads,
        input_size=frame_shape(args.image_size) if args.image_size else None,
    )


def run(args):
    from gradcam.model_diff import DEFAULT_METHODS, diff
    from gradcam.model_diff.gate import parse_gate
    from gradcam.model_diff.report import prepare_out_dir
    from gradcam.model_diff.summary import SUMMARY_FIGURES

    check_model_flags(args)
    methods = [m.name for m in parse_methods(args.methods, DEFAULT_METHODS)]
    if args.fail_if:
        parse_gate(args.fail_if, methods, SUMMARY_FIGURES)  # before any model loads
    prepare_out_dir(args.out)
    class_map = read_class_map(args.class_map) if args.class_map else None
    if not Path(args.data).is_dir():
        raise UserError(f"{args.data}: not a folder")
    model_a = load_model(args)
    model_b = load_model_b(args)
    result = diff(
        model_a,
        model_b,
        args.data,
        methods=methods,
        target=args.target,
        classes=args.classes,
        class_map=class_map,
        fraction=args.fraction,
        noise=args.noise,
        seed=args.seed,
        batch_size=args.batch_size,
        fail_if=args.fail_if,
        strategies=not args.no_strategies,
        out=args.out,
        progress=True,
    )
    first = result.summary[methods[0]]
    print(
        f"{first['images']} images: {methods[0]} median IoU {first['median_iou']:.3f} (floor "
        f"{first['floor_iou']:.3f}, drift {first['iou_drift']:.1f}x), top-1 agreement "
        f"{first['top1_agreement']:.3f}; wrote {Path(args.out) / 'report.html'}"
    )
    for tripped in result.tripped:
        print(f"gradcam: {tripped.line()}")
    return 1 if result.tripped else 0
