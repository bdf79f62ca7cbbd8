"""Reproduce the closing figure of a decade-of-saliency walk-through (PAIR saliency): every
registered explanation method on the same photos (cat, espresso), one row per photo.

    python scripts/reproduce_comparison.py [--fast] [--out results/comparison]

Uses the figure of ``gradcam compare`` (gradcam/figures.py): CAM-type maps as heatmaps over the
image, pixel attributions in grayscale, one colour scale per method column. Each photo is explained
for its top class; the JSON holds the class, the seconds each method took and the options used.
"""

import argparse
import sys

from gradcam.errors import exit_status
from gradcam.evaluation import report

import _common


def parse_args(argv):
    from gradcam.evaluation.collage import benchmark_photos

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images",
        default="chelsea,coffee",
        help=f"comma-separated photos among {', '.join(benchmark_photos())}",
    )
    parser.add_argument("--methods", help="comma-separated methods (default: all registered)")
    _common.add_common_arguments(parser, "comparison")
    return parser.parse_args(argv)


def main(argv=None, model=None):
    from gradcam.errors import UserError
    from gradcam.evaluation.collage import benchmark_photos
    from gradcam.figures import comparison_figure, comparison_rows
    from gradcam.methods import METHODS, get_method

    args = parse_args(argv)
    photos = benchmark_photos()
    names = args.images.split(",")
    if any(n not in photos for n in names):
        raise UserError(f"--images: valid photos are {', '.join(photos)}")
    methods = [get_method(n) for n in (args.methods.split(",") if args.methods else METHODS)]
    out = _common.output_dir(args.out)
    model = model or _common.load_model("efficientnet_lite0")
    options = {m.name: _common.method_options(m.name, args.fast) for m in methods}
    rows, images = comparison_rows(
        model,
        [(n, model.prepare(photos[n])) for n in names],
        methods,
        options,
        log=lambda line: print(line, flush=True),
    )
    _common.save_small_figure(
        out / "comparison.png", comparison_figure(rows, [m.title for m in methods])
    )
    report.write_json(
        out / "comparison.json",
        {
            "images": images,
            "command": _common.command_line("reproduce_comparison", argv),
            "model": model.name,
            "methods": [m.name for m in methods],
            "method_options": options,
        },
    )
    print(f"wrote {out / 'comparison.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
