"""Synthesise an image that maximises a class logit (class model visualisation) or one channel of
a layer (activation maximisation), by regularised gradient ascent on the input."""

from gradcam.commands.common import add_model_arguments, load_model
from gradcam.errors import UserError

NAME = "maximize"
HELP = "synthesise an image maximising a class or a layer channel"


def add_arguments(parser):
    add_model_arguments(parser)
    goal = parser.add_mutually_exclusive_group(required=True)
    goal.add_argument("--class", dest="classes", metavar="CLASS", help="class name or index")
    goal.add_argument("--layer", help="end point whose --channel to maximise")
    parser.add_argument("--channel", type=int, default=0, help="channel of --layer")
    parser.add_argument(
        "--unit",
        metavar="Y,X",
        help="maximise the channel at this position of the "
        "layer's map only (one unit) instead of its mean",
    )
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=2.0)
    parser.add_argument("--l2-decay", type=float, default=1e-3)
    parser.add_argument("--jitter", type=int, default=8, help="max random shift in pixels")
    parser.add_argument("--blur-every", type=int, default=4, help="blur every N steps (0: never)")
    parser.add_argument("--blur-sigma", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="results/maximize.png", help="PNG path")


def parse_unit(text):
    """ "Y,X" -> (y, x); None stays None."""
    if text is None:
        return None
    try:
        y, x = (int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--unit {text!r}: expected two whole numbers Y,X") from None
    return y, x


def run(args):
    from gradcam.maximize import maximize
    from gradcam.visualize import save_png

    if not args.output.lower().endswith(".png"):
        raise UserError(f"--output {args.output}: expected a .png file")
    if args.jitter < 0 or args.blur_every < 0:
        raise UserError("--jitter and --blur-every must be >= 0")
    unit = parse_unit(args.unit)
    if unit is not None and args.layer is None:
        raise UserError("--unit goes with --layer")
    model = load_model(args)
    target = model.class_index(args.classes) if args.classes is not None else None
    result = maximize(
        model,
        target=target,
        layer=args.layer,
        channel=args.channel,
        steps=args.steps,
        learning_rate=args.learning_rate,
        l2_decay=args.l2_decay,
        jitter=args.jitter,
        blur_every=args.blur_every,
        blur_sigma=args.blur_sigma,
        seed=args.seed,
        unit=unit,
    )
    save_png(args.output, result.image)
    goal = (
        f"class {model.label(target)} ({target})"
        if target is not None
        else f"{args.layer} channel {args.channel}" + (f" at {unit}" if unit else "")
    )
    print(
        f"{goal}: objective {result.objective[0]:.3f} -> {result.objective[-1]:.3f}; "
        f"wrote {args.output}"
    )
    return 0
