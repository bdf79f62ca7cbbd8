"""Compare explanation methods side by side: one row per IMAGE, the input then one column per
method (CAM-type maps as heatmaps, pixel attributions in grayscale; one colour scale per method
column), each for the image's top class unless --class is given."""
from pathlib import Path

from gradcam.commands.common import add_model_arguments, load_model
from gradcam.commands.method_options import add_option_argument, options_for, parse_options
from gradcam.errors import UserError

NAME = "compare"
HELP = "one figure comparing explanation methods on images"


def add_arguments(parser):
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    add_model_arguments(parser)
    parser.add_argument("--methods", help="comma-separated registered methods (default: all)")
    parser.add_argument("--class", dest="target", metavar="CLASS",
                        help="target class for every image (default: each image's top class)")
    parser.add_argument("--layer", help="end point for layer-based methods (default: CAM layer)")
    parser.add_argument("--batch-size", type=int, default=32)
    add_option_argument(parser)
    parser.add_argument("--output", default="results/compare.png", help="PNG path")


def chosen_methods(text):
    from gradcam.methods import METHODS, get_method

    names = [n.strip() for n in text.split(",") if n.strip()] if text else list(METHODS)
    if not names:
        raise UserError("--methods: no method given")
    return [get_method(n) for n in names]


def run(args):
    from gradcam.figures import comparison_figure, comparison_rows
    from gradcam.images import load_image
    from gradcam.visualize import save_figure

    if not args.output.lower().endswith(".png"):
        raise UserError(f"--output {args.output}: expected a .png file")
    methods = chosen_methods(args.methods)
    parsed = parse_options(args.options)
    options = {m.name: options_for(m, parsed, strict=False, seed=args.seed) for m in methods}
    photos = [load_image(p) for p in args.images]
    model = load_model(args)
    target = model.class_index(args.target) if args.target else None
    named = [(Path(path).name, model.prepare(photo)) for path, photo in zip(args.images, photos)]
    rows, _ = comparison_rows(model, named, methods, options, target, args.layer, args.batch_size,
                              log=lambda line: print(line, flush=True))
    save_figure(args.output, comparison_figure(rows, [m.title for m in methods]))
    print(f"wrote {args.output}")
    return 0
