"""Reproduce The Hive's Grad-CAM write-up (hiveml/tensorflow-grad-cam): the top class and an
overridden low-probability class explained on the same image, side by side.

    python scripts/reproduce_hive.py                      # EfficientNet-Lite0, coffee + cat scene
    python scripts/reproduce_hive.py --model resnet_v2_50 \
        --checkpoint checkpoints/resnet_v2_50/resnet_v2_50.ckpt
    python scripts/reproduce_hive.py --image photo.jpg --class gambling --style shading

The write-up explained a Slim ``resnet_v2_50`` (299 x 299, inception preprocessing, 1001 classes)
at ``PrePool`` and overrode the class to look at an unlikely one; its "gambling" and "alcohol"
classes came from custom classifier heads, so here ``--class`` takes any class of the model. The
default scene is two photos side by side (espresso + cat): the top class is one object, the
override the other object's class (the class the model gives that photo alone).

The sharper question a moderator asks is contrastive: why the top class *rather than* the
override, and the other way round. ``hive_contrast.png`` shows Grad-CAM of logit_A - logit_B for
both orders (``gradcam explain --contrast``), where the plain maps of ``hive.png`` each explain
one logit alone.
"""

import argparse
import sys

import numpy as np

from gradcam.errors import exit_status
from gradcam.evaluation import report

import _common


def parse_args(argv):
    from gradcam.visualize import STYLES
    from nets.nets_factory import DEFAULT_NETWORK, NETWORKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_NETWORK, choices=sorted(NETWORKS))
    parser.add_argument("--checkpoint", help="checkpoint prefix (default: the network's own)")
    parser.add_argument("--image", help="photo to explain (default: espresso + cat side by side)")
    parser.add_argument(
        "--class",
        dest="override",
        metavar="NAME",
        help="class to explain next to the top class (default: the other object's)",
    )
    parser.add_argument(
        "--layer", help="layer (default: the network's CAM layer, PrePool for ResNet v2)"
    )
    parser.add_argument("--style", default="heatmap", choices=STYLES)
    parser.add_argument("--alpha", type=float, default=0.5)
    _common.add_common_arguments(parser, "hive")
    return parser.parse_args(argv)


def two_object_scene(model):
    """Espresso + cat collage at the network's input size, and each photo's class seen alone."""
    from gradcam.evaluation.collage import benchmark_photos, side_by_side

    photos = benchmark_photos()
    left, right = photos["coffee"], photos["chelsea"]
    image, masks = side_by_side(left, right, model.image_size)
    alone = model.fetch(
        np.stack([model.prepare(left), model.prepare(right)]), keys=["probabilities"]
    )
    return image, masks, alone["probabilities"]


def choose_classes(model, probabilities, alone, override):
    """Top class, and the override: --class, else the top class of the other photo seen alone
    (the top class belongs to the photo that, alone, gives it the higher probability)."""
    top = int(probabilities.argmax())
    if override is not None:
        return top, model.class_index(override)
    if alone is None:
        return top, int(probabilities.argsort()[-2])
    other_photo = 1 - int(alone[:, top].argmax())
    return top, int(alone[other_photo].argmax())


def main(argv=None, model=None):
    from gradcam.evaluation.pointing import energy_inside
    from gradcam.explanation import explain
    from gradcam.images import load_image
    from gradcam.visualize import overlay, panel_figure, save_figure

    args = parse_args(argv)
    out = _common.output_dir(args.out)
    model = model or _common.load_model(args.model, args.checkpoint)
    if args.image:
        image, masks, alone = model.prepare(load_image(args.image)), None, None
    else:
        image, masks, alone = two_object_scene(model)
    probabilities = model.fetch(image[None], keys=["probabilities"])["probabilities"][0]
    top, other = choose_classes(model, probabilities, alone, args.override)
    result = explain(model, image[None], [top, other], "grad_cam", layer=args.layer)
    titles = [
        f"top: {model.label(c)} p={probabilities[c]:.3f}"
        if i == 0
        else f"override: {model.label(c)} p={probabilities[c]:.4f}"
        for i, c in enumerate((top, other))
    ]
    panels = [(t, overlay(image, m, args.style, args.alpha)) for t, m in zip(titles, result.map)]
    save_figure(out / "hive.png", panel_figure(image, panels))
    rather = {
        (a, b): explain(model, image[None], a, "grad_cam", layer=args.layer, contrast=b)
        for a, b in ((top, other), (other, top))
    }
    panels = [
        (
            f"why {model.label(a)}\nrather than {model.label(b)}",
            overlay(image, r.map[0], args.style, args.alpha),
        )
        for (a, b), r in rather.items()
    ]
    save_figure(out / "hive_contrast.png", panel_figure(image, panels))
    record = {
        "command": _common.command_line("reproduce_hive", argv),
        "model": model.name,
        "checkpoint": args.checkpoint or "default",
        "layer": args.layer or model.default_layer,
        "image_size": model.image_size,
        "preprocessing": model.preprocessing.name,
        "num_classes": model.num_classes,
        "image": args.image or "collage: skimage coffee (left) + chelsea (right)",
        "style": args.style,
        "top5": [
            {"index": int(i), "label": model.label(i), "probability": float(probabilities[i])}
            for i in probabilities.argsort()[::-1][:5]
        ],
        "explained": [
            {
                "role": role,
                "index": c,
                "label": model.label(c),
                "probability": float(probabilities[c]),
                "all_zero_map": bool(d),
            }
            for role, c, d in zip(("top", "override"), (top, other), result.degenerate)
        ],
        "rather_than": [
            {
                "role": role,
                "index": a,
                "label": model.label(a),
                "contrast": b,
                "contrast_label": model.label(b),
                "all_zero_map": bool(r.degenerate[0]),
            }
            for role, ((a, b), r) in zip(("top", "override"), rather.items())
        ],
    }
    if masks is not None:
        record["classes_alone"] = {
            side: model.label(p.argmax()) for side, p in zip(("left", "right"), alone)
        }
        maps = {
            **dict(zip(("top", "override"), result.map)),
            "top_rather_than_override": rather[top, other].map[0],
            "override_rather_than_top": rather[other, top].map[0],
        }
        record["map_energy_in_tile"] = {
            role: {"left": energy_inside(m, masks[0]), "right": energy_inside(m, masks[1])}
            for role, m in maps.items()
        }
    report.write_json(out / "hive.json", record)
    print(
        f"top {model.label(top)} ({probabilities[top]:.3f}), override {model.label(other)} "
        f"({probabilities[other]:.4f}) -> {out / 'hive.png'}, {out / 'hive_contrast.png'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
