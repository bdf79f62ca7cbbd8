"""Reproduce the cascading randomisation test of Adebayo et al. 2018 ("Sanity Checks for Saliency
Maps", NeurIPS) on the embedded EfficientNet-Lite0.

    python scripts/reproduce_sanity_checks.py [--fast] [--out results/sanity_checks]

Layers are re-initialised with random values from the logits down (logits, head, block_15 ..
block_0, stem), cumulatively, in the same session; after each step every method explains the
same images for the same (original top) class, and the map is compared with the map of the
trained network: Spearman rank correlation of absolute values and SSIM of the normalised absolute
maps. Published finding: gradients and Grad-CAM decorrelate quickly, guided backprop and guided
Grad-CAM stay similar (they mostly show edges). All weights are restored exactly at the end.
"""

import argparse
import sys

import numpy as np

from gradcam.errors import exit_status
from gradcam.evaluation import report
from gradcam.methods import get_method

import _common

METHODS = (
    "gradient",
    "guided_backprop",
    "grad_cam",
    "guided_grad_cam",
    "integrated_gradients",
    "smoothgrad",
)
FAST_GROUPS = ("logits", "head")


def parse_args(argv):
    from gradcam.evaluation.collage import benchmark_photos

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images",
        default="chelsea",
        help=f"comma-separated photos among {', '.join(benchmark_photos())}",
    )
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    parser.add_argument("--seed", type=int, default=0)
    _common.add_common_arguments(parser, "sanity_checks")
    return parser.parse_args(argv)


def absolute_map(model, explanation):
    """|attribution| at input resolution: maps upsampled before the absolute value, per-pixel
    attributions summed over colour channels (Adebayo et al. compare absolute values)."""
    from gradcam.postprocess import evidence

    return evidence(explanation.raw, "magnitude", model.image_size, percentile=None)


def explain_all(model, images, targets, methods, fast):
    from gradcam.explanation import explain

    return {
        m: absolute_map(
            model, explain(model, images, targets, m, **_common.method_options(m, fast))
        )
        for m in methods
    }


def compare(original, randomized):
    """Mean over images of Spearman (abs) and SSIM (maps scaled to [0, 1])."""
    from gradcam.arrays import normalize
    from gradcam.evaluation.similarity import spearman, ssim

    a, b = normalize(original), normalize(randomized)
    return {
        "spearman": float(np.nanmean([spearman(x, y) for x, y in zip(original, randomized)])),
        "ssim": float(np.mean([ssim(x, y) for x, y in zip(a, b)])),
    }


def plot(path, steps, curves, methods):
    from gradcam.visualize import new_figure, save_figure

    figure, axes = new_figure(1, 2, 5.5, 3.8)
    for ax, metric in zip(axes.flat, ("spearman", "ssim")):
        for method in methods:
            ax.plot(
                range(len(steps)),
                [c[metric] for c in curves[method]],
                marker="o",
                ms=3,
                label=method,
            )
        ax.set_xticks(range(len(steps)))
        ax.set_xticklabels(steps, rotation=70, fontsize=7)
        ax.set_ylim(-0.2 if metric == "spearman" else 0, 1.02)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(
            f"{'Spearman rank correlation (abs)' if metric == 'spearman' else 'SSIM'} "
            "vs original map",
            fontsize=9,
        )
        ax.set_xlabel("cascading randomisation down to layer", fontsize=8)
    axes[0, 1].legend(fontsize=7)
    figure.tight_layout()
    save_figure(path, figure)


def main(argv=None, model=None):
    from gradcam.evaluation.collage import benchmark_photos
    from gradcam.evaluation.randomization import cascading_randomization, layer_groups

    args = parse_args(argv)
    out = _common.output_dir(args.out)
    model = model or _common.load_model("efficientnet_lite0")
    photos = benchmark_photos()
    names = args.images.split(",")[: 1 if args.fast else None]
    unknown = [n for n in names if n not in photos]
    if unknown:
        from gradcam.errors import UserError

        raise UserError(f"unknown photo {unknown[0]!r}; valid: {', '.join(photos)}")
    images = np.stack([model.prepare(photos[n]) for n in names])
    logits = model.predict(images)
    targets = logits.argmax(1)
    methods = [get_method(name.strip()).name for name in args.methods.split(",")]
    groups = list(FAST_GROUPS if args.fast else layer_groups(model))
    original = explain_all(model, images, targets, methods, args.fast)
    curves = {m: [{"spearman": 1.0, "ssim": 1.0}] for m in methods}
    with cascading_randomization(model, groups, seed=args.seed) as steps:
        for layer in steps:
            maps = explain_all(model, images, targets, methods, args.fast)
            for m in methods:
                curves[m].append(compare(original[m], maps[m]))
            print(
                f"randomised down to {layer}: "
                + ", ".join(f"{m} {curves[m][-1]['spearman']:+.2f}" for m in methods),
                flush=True,
            )
    restored = bool(np.array_equal(model.predict(images), logits))
    steps = ["original"] + groups
    plot(out / "sanity_checks.png", steps, curves, methods)
    record = {
        "command": _common.command_line("reproduce_sanity_checks", argv),
        "model": model.name,
        "images": names,
        "targets": [model.label(t) for t in targets],
        "seed": args.seed,
        "steps": steps,
        "method_options": {m: _common.method_options(m, args.fast) for m in methods},
        "weights_restored_exactly": restored,
        "curves": curves,
        "fully_randomized": {m: curves[m][-1] for m in methods},
    }
    report.write_json(out / "sanity_checks.json", record)
    print(f"wrote {out / 'sanity_checks.png'}; weights restored exactly: {restored}")
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
