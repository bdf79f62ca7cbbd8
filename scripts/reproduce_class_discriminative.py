"""Reproduce the class-discriminativeness figure of Grad-CAM (Selvaraju et al. 2017, "Grad-CAM:
Visual Explanations from Deep Networks via Gradient-based Localization", ICCV).

    python scripts/reproduce_class_discriminative.py [--fast] [--out results/class_discriminative]

One image with two objects (espresso and cat photos side by side) is explained for each object's
class with Grad-CAM, guided backprop and guided Grad-CAM. The paper's observation: guided
backprop highlights nearly the same pixels whatever the class, Grad-CAM (and so guided Grad-CAM)
moves to the object of the class. Reported: Pearson and Spearman correlation between the two
classes' maps per method (high = not class-discriminative) and each map's mass in each tile.
"""

import argparse
import sys

import numpy as np

from gradcam.errors import exit_status
from gradcam.evaluation import report
from gradcam.methods import get_method

import _common

METHODS = ("grad_cam", "guided_backprop", "guided_grad_cam")


def parse_args(argv):
    from gradcam.evaluation.collage import benchmark_photos

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choices = list(benchmark_photos())
    parser.add_argument("--left", default="coffee", choices=choices)
    parser.add_argument("--right", default="chelsea", choices=choices)
    _common.add_common_arguments(parser, "class_discriminative")
    return parser.parse_args(argv)


def figure(image, titles, rows, methods):
    from gradcam.visualize import new_figure

    figure_, axes = new_figure(len(rows), len(methods) + 1, 2.6, 2.8)
    for r, (title, maps) in enumerate(zip(titles, rows)):
        axes[r, 0].imshow(image)
        axes[r, 0].set_title(title, fontsize=8)
        for c, (method, picture) in enumerate(zip(methods, maps), start=1):
            axes[r, c].imshow(picture)
            axes[r, c].set_title(method, fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    figure_.tight_layout()
    return figure_


def main(argv=None, model=None):
    from gradcam.evaluation.collage import benchmark_photos, side_by_side
    from gradcam.evaluation.pointing import energy_inside
    from gradcam.evaluation.similarity import pearson, spearman
    from gradcam.explanation import explain
    from gradcam.figures import method_panel

    args = parse_args(argv)
    out = _common.output_dir(args.out)
    model = model or _common.load_model("efficientnet_lite0")
    photos = benchmark_photos()
    left, right = photos[args.left], photos[args.right]
    image, masks = side_by_side(left, right, model.image_size)
    alone = model.predict(np.stack([model.prepare(left), model.prepare(right)]))
    classes = [int(c) for c in alone.argmax(1)]
    if classes[0] == classes[1]:
        from gradcam.errors import UserError

        raise UserError(
            f"{args.left} and {args.right} get the same class; pick two different photos"
        )
    probabilities = model.fetch(image[None], keys=["probabilities"])["probabilities"][0]
    methods = [get_method(name).name for name in METHODS]
    pair = np.stack([image, image])
    maps, results = {}, {}
    for method in methods:
        maps[method] = explain(model, pair, classes, method).map
        a, b = maps[method]
        results[method] = {
            "pearson_between_classes": pearson(a, b),
            "spearman_between_classes": spearman(a, b),
            "energy_in_own_tile": [energy_inside(m, k) for m, k in zip(maps[method], masks)],
        }
        row = results[method]
        print(
            f"{method:18s} corr(class A map, class B map): pearson "
            f"{row['pearson_between_classes']:+.3f}  spearman {row['spearman_between_classes']:+.3f}"
            "  energy in own tile " + " / ".join(f"{e:.2f}" for e in row["energy_in_own_tile"])
        )

    titles = [f"{model.label(c)} p={probabilities[c]:.3f}" for c in classes]
    rows = [
        [method_panel(image, maps[m][i], get_method(m).display) for m in methods] for i in range(2)
    ]
    _common.save_small_figure(
        out / "class_discriminative.png", figure(image, titles, rows, methods)
    )
    report.write_json(
        out / "class_discriminative.json",
        {
            "command": _common.command_line("reproduce_class_discriminative", argv),
            "model": model.name,
            "image": f"collage: {args.left} (left) + {args.right} (right)",
            "classes": [
                {
                    "index": c,
                    "label": model.label(c),
                    "probability_in_collage": float(probabilities[c]),
                }
                for c in classes
            ],
            "methods": results,
        },
    )
    print(f"wrote {out / 'class_discriminative.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
