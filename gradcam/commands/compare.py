"""Compare explanation methods side by side: one row per IMAGE, the input then one column per
method (CAM-type maps as heatmaps, pixel attributions in grayscale; one colour scale per method
column), each for the image's top class unless --class is given, rather than --contrast's class
if given."""

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
from gradcam.methods import METHODS

NAME = "compare"
HELP = "one figure comparing explanation methods on images"


def add_arguments(parser):
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    add_model_arguments(parser)
    add_method_arguments(parser, several=True)
    add_class_argument(
        parser, help_text="target class for every image (default: each image's top class)"
    )
    parser.add_argument("--output", default="results/compare.png", help="PNG path")


def run(args):
    from gradcam.figures import comparison_figure, comparison_rows
    from gradcam.images import load_image
    from gradcam.visualize import save_figure

    if not args.output.lower().endswith(".png"):
        raise UserError(f"--output {args.output}: expected a .png file")
    methods = parse_methods(args.methods, METHODS)
    parsed = parse_options(args.options)
    options = {m.name: options_for(m, parsed, strict=False, seed=args.seed) for m in methods}
    photos = [load_image(p) for p in args.images]
    model = load_model(args)
    target = model.class_index(args.classes) if args.classes else None
    named = [
        (Path(path).name, model.prepare(photo, args.central_fraction))
        for path, photo in zip(args.images, photos)
    ]
    rows, _ = comparison_rows(
        model,
        named,
        methods,
        options,
        target,
        args.layer,
        args.batch_size,
        log=lambda line: print(line, flush=True),
        contrast=args.contrast,
        score=args.score,
    )
    save_figure(args.output, comparison_figure(rows, [m.title for m in methods]))
    print(f"wrote {args.output}")
    return 0
