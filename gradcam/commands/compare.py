"""Compare explanation methods side by side: one row per IMAGE, the input then one column per
method (CAM-type maps as heatmaps, pixel attributions in grayscale), each for the image's top
class unless --class is given."""
import warnings
from pathlib import Path

import numpy as np

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
    from gradcam.explain import explain
    from gradcam.figures import comparison_figure, method_panel
    from gradcam.images import load_image
    from gradcam.visualize import save_figure

    if not args.output.lower().endswith(".png"):
        raise UserError(f"--output {args.output}: expected a .png file")
    methods = chosen_methods(args.methods)
    parsed = parse_options(args.options)
    options = {m.name: options_for(m, parsed, strict=False) for m in methods}
    photos = [load_image(p) for p in args.images]
    model = load_model(args)
    rows = []
    for path, photo in zip(args.images, photos):
        image = model.prepare(photo)
        target = model.class_index(args.target) if args.target else \
            int(model.predict(image[None])[0].argmax())
        panels = []
        for method in methods:
            try:
                result = explain(model, image[None], target, method.name, args.layer,
                                 args.batch_size, **options[method.name])
            except UserError as exc:  # e.g. CAM on a network without a linear head
                warnings.warn(f"{method.name} left blank: {exc}")
                panels.append(np.full_like(image, 255))
                continue
            panels.append(method_panel(image, result.map[0], method.kind))
        rows.append((f"{Path(path).name}\n{model.label(target)}", image, panels))
        print(f"{path}: {model.label(target)} ({target})", flush=True)
    save_figure(args.output, comparison_figure(rows, [m.title for m in methods]))
    print(f"wrote {args.output}")
    return 0
