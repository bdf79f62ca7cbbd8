"""Score explanation methods on IMAGES: deletion and insertion AUC (Petsiuk et al. 2018, RISE),
average drop and increase in confidence (Chattopadhay et al. 2018), and, with --boxes, the
pointing game. --protocol picks the deletion/insertion protocol: default (gradcam-slim's own) or
rise (the RISE paper's). --boxes boxes.json (network-input pixels) adds the pointing game and
energy in box on the images the network sees; --boxes DIR (Pascal VOC / ILSVRC XML files, one per
image) runs the weakly-supervised localisation and pointing game of the CAM / Grad-CAM papers and
writes OUT/localization.json. Prints method x metric, writes per-image and summary CSVs, a JSON
that names the protocol, seed, package versions and checkpoint SHA-256, and a plot of the mean
deletion/insertion curves."""

from dataclasses import replace
from pathlib import Path

from gradcam.commands.common import (
    add_class_argument,
    add_method_arguments,
    add_model_arguments,
    load_model,
    parse_methods,
)
from gradcam.commands.method_options import options_for, parse_options
from gradcam.errors import UserError
from gradcam.evaluation.perturbation import BASELINES

NAME = "evaluate"
HELP = "quantitative evaluation of explanation methods (deletion/insertion, drop, localisation)"

# The names of gradcam.evaluation.protocols.PROTOCOLS, spelled out so --help imports no scipy.
PROTOCOL_NAMES = ("default", "rise")
DEFAULT_LOC_THRESHOLD = 0.15  # gradcam.evaluation.localization.THRESHOLD
DEFAULT_TOLERANCE = 15.0  # gradcam.evaluation.localization.TOLERANCE

# Flags (argparse dest, option) that would change the parts the RISE protocol fixes.
RISE_FIXED = (
    ("deletion_baseline", "--deletion-baseline"),
    ("insertion_baseline", "--insertion-baseline"),
    ("classes", "--class"),
    ("central_fraction", "--central-fraction"),
)


def add_arguments(parser):
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    add_model_arguments(parser)
    # default grad_cam; no --contrast/--score: the metrics score the target class itself
    add_method_arguments(parser, several=True, scores=False)
    add_class_argument(
        parser,
        help_text="target class for every image (default: each image's top "
        "class); not with --protocol rise, which explains and scores the predicted "
        "class, nor for the localisation of --boxes DIR, which explains the classes "
        "of the boxes",
    )
    parser.add_argument(
        "--protocol",
        default="default",
        choices=PROTOCOL_NAMES,
        help="deletion/insertion protocol. default: the model's crop, black "
        "deletion, blurred insertion canvas (PIL radius 5), 32 equal steps, "
        "softmax of the explained class. rise (Petsiuk et al. 2018): the whole "
        "image resized (no crop), deletion to the ImageNet mean colour, insertion "
        "from an 11 x 11 sigma 5 Gaussian blur, 224 pixels per step, softmax of "
        "the predicted class",
    )
    parser.add_argument(
        "--steps",
        type=int,
        help="deletion/insertion steps; unset: 32 for the "
        "default protocol, the paper's 224 pixels per step for rise (which, given "
        "--steps, takes equal steps and is named rise-N-steps)",
    )
    parser.add_argument(
        "--deletion-baseline",
        choices=BASELINES,
        help="the default protocol's deletion substrate; unset: zero",
    )
    parser.add_argument(
        "--insertion-baseline",
        choices=BASELINES,
        help="the default protocol's insertion canvas; unset: blur",
    )
    parser.add_argument(
        "--boxes",
        metavar="DIR_OR_JSON",
        help="a directory of Pascal VOC XML files named like the images (ILSVRC "
        "box format: original image pixels, <name> a WordNet id or a class name): "
        "weakly-supervised localisation and pointing game of the CAM/Grad-CAM "
        "papers, in OUT/localization.json. Or a JSON file {image file name: "
        "[[top, left, bottom, right], ...]} in the pixels of the images the "
        "network sees under --protocol: pointing game and energy in box",
    )
    parser.add_argument(
        "--loc-threshold",
        type=float,
        default=DEFAULT_LOC_THRESHOLD,
        help="--boxes DIR: the predicted box bounds the largest connected part of "
        "map >= this fraction of its maximum (Grad-CAM: 0.15)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="pointing-game tolerance in pixels (original image pixels with "
        "--boxes DIR, network-input pixels with a JSON box file)",
    )
    parser.add_argument(
        "--localization-only",
        action="store_true",
        help="with --boxes DIR: run only the localisation protocol (no "
        "deletion/insertion, no confidence drop)",
    )
    parser.add_argument("--out", default="results/evaluation", help="output folder")


def perturbation_protocol(args):
    """The deletion/insertion protocol the flags describe (``PerturbationProtocol``); UserError
    for flags that would change the RISE protocol's fixed parts."""
    from gradcam.evaluation.protocols import DEFAULT, get_protocol, with_steps

    def flag(name):
        return getattr(args, name, None)

    protocol = get_protocol(flag("protocol") or DEFAULT.name)
    steps = flag("steps")
    if steps is not None and steps < 1:
        raise UserError(f"--steps must be at least 1, got {steps}")
    if protocol is DEFAULT:
        deletion, insertion = flag("deletion_baseline"), flag("insertion_baseline")
        return replace(
            DEFAULT,
            steps=steps or DEFAULT.steps,
            deletion_substrate=deletion or DEFAULT.deletion_substrate,
            insertion_substrate=insertion or DEFAULT.insertion_substrate,
        )
    fixed = [option for name, option in RISE_FIXED if flag(name) is not None]
    if fixed:
        raise UserError(
            f"--protocol {protocol.name} fixes the image, substrates and class of the "
            f"paper; drop {', '.join(fixed)} (or use --protocol default)"
        )
    return with_steps(protocol, steps) if steps is not None else protocol


def check_localization_flags(args, voc):
    """UserError for localisation flags that cannot apply."""
    if not 0.0 <= args.loc_threshold <= 1.0:
        raise UserError(
            f"--loc-threshold is a fraction of the map's maximum in [0, 1], got "
            f"{args.loc_threshold}"
        )
    if not args.tolerance >= 0:
        raise UserError(f"--tolerance must be at least 0 pixels, got {args.tolerance}")
    if args.localization_only and not voc:
        raise UserError("--localization-only needs --boxes DIR (a folder of VOC XML files)")
    if args.localization_only and args.classes:
        raise UserError("--localization-only explains the classes of the boxes; drop --class")


def progress_printer():
    """A progress callback (method, done, total) printing at most about ten lines per method."""
    shown = {}

    def progress(method, done, total):
        tenth = 10 * done // total
        if tenth > shown.get(method, -1):
            shown[method] = tenth
            print(f"{method}: {done}/{total} images", flush=True)

    return progress


def method_done(method, done, total):
    """The progress callback of the deletion/insertion part: one line per method."""
    print(f"{method}: done", flush=True)


def run(args):
    from gradcam.evaluation import report, runner
    from gradcam.evaluation.box_evaluation import read_box_set
    from gradcam.evaluation.protocols import LocalizationProtocol
    from gradcam.evaluation.provenance import provenance
    from gradcam.images import load_image

    voc = bool(args.boxes) and Path(args.boxes).is_dir()
    if args.boxes and not voc and not Path(args.boxes).is_file():
        raise UserError(f"--boxes {args.boxes}: no such file or directory")
    check_localization_flags(args, voc)
    protocol = None if args.localization_only else perturbation_protocol(args)
    methods = parse_methods(args.methods, ["grad_cam"])
    parsed = parse_options(args.options)
    options = {
        m.name: options_for(m, parsed, strict=len(methods) == 1, seed=args.seed) for m in methods
    }
    names = [m.name for m in methods]
    photos = None if protocol is None else [load_image(p) for p in args.images]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(args)
    record = provenance(model.source, 0 if args.seed is None else args.seed)
    items = read_box_set(args.images, args.boxes, model.labels) if voc else None
    if protocol is not None:
        json_boxes = args.boxes and not voc
        result = runner.evaluate(
            model,
            photos,
            names,
            protocol,
            target=args.classes,
            options=options,
            layer=args.layer,
            batch_size=args.batch_size,
            central_fraction=args.central_fraction,
            masks=runner.read_json_boxes(args.boxes, args.images, model.input_size)
            if json_boxes
            else None,
            boxes=args.boxes,
            tolerance=args.tolerance,
            names=args.images,
            provenance_record=record,
            progress=method_done,
        )
        heading, markdown = report.write_report(result, out)
        print(heading)
        print(markdown)
        print(f"wrote {out}/per_image.csv, summary.csv, summary.json, summary.md, curves.png")
    if voc:
        result = runner.localize(
            model,
            items,
            names,
            LocalizationProtocol(threshold=args.loc_threshold, pointing_tolerance=args.tolerance),
            options=options,
            layer=args.layer,
            batch_size=args.batch_size,
            boxes=args.boxes,
            provenance_record=record,
            progress=progress_printer(),
        )
        heading, markdown = report.write_localization_report(result, out)
        print(heading)
        print(markdown)
        print(f"wrote {out}/localization.json, localization.md")
    return 0
