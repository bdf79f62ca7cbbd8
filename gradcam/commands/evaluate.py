"""Score explanation methods on IMAGES: deletion and insertion AUC (Petsiuk et al. 2018, RISE),
average drop and increase in confidence (Chattopadhay et al. 2018), and, with --boxes, the
pointing game and energy in box (Zhang et al. 2016). Prints method x metric (mean ± std over the
images), writes per-image and summary CSVs and a plot of the mean deletion/insertion curves."""
import csv
import io
import json
from pathlib import Path

import numpy as np

from gradcam.commands.common import (add_class_argument, add_method_arguments, add_model_arguments,
                                     load_model, parse_methods)
from gradcam.commands.method_options import options_for, parse_options
from gradcam.errors import UserError
from gradcam.evaluation.perturbation import BASELINES

NAME = "evaluate"
HELP = "quantitative evaluation of explanation methods (deletion/insertion, drop, pointing)"

METRICS = (("deletion_auc", "deletion AUC (lower better)"),
           ("insertion_auc", "insertion AUC (higher better)"),
           ("average_drop", "average drop % (lower better)"),
           ("increase_in_confidence", "increase in confidence % (higher better)"))
BOX_METRICS = (("pointing_hit", "pointing game % (higher better)"),
               ("energy_in_box", "energy in box (higher better)"))


def add_arguments(parser):
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    add_model_arguments(parser)
    add_method_arguments(parser, several=True)  # default: grad_cam
    add_class_argument(parser, help_text="target class for every image (default: each image's top "
                       "class)")
    parser.add_argument("--steps", type=int, default=32, help="deletion/insertion steps")
    parser.add_argument("--deletion-baseline", default="zero", choices=BASELINES)
    parser.add_argument("--insertion-baseline", default="blur", choices=BASELINES)
    parser.add_argument("--boxes", help="JSON file: {image file name: [[top, left, bottom, right], ...]} "
                        "in network-input pixels, for the pointing game")
    parser.add_argument("--tolerance", type=float, default=15, help="pointing-game tolerance (pixels)")
    parser.add_argument("--out", default="results/evaluation", help="output folder")


def read_boxes(path, images, size):
    """Object masks per image from the --boxes file (every image must have at least one box)."""
    from gradcam.evaluation.pointing import box_mask

    try:
        boxes = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"--boxes {path}: {exc}") from None
    masks = []
    for image in images:
        entry = boxes.get(Path(image).name, boxes.get(str(image)))
        if not entry:
            raise UserError(f"--boxes {path}: no box for {Path(image).name}")
        mask = np.zeros((size, size), bool)
        for box in entry:
            if len(box) != 4:
                raise UserError(f"--boxes {path}: a box is [top, left, bottom, right], got {box}")
            mask |= box_mask((size, size), box)
        if not mask.any():
            raise UserError(f"--boxes {path}: the boxes of {Path(image).name} are empty")
        masks.append(mask)
    return masks


def evaluate_method(model, method, images, targets, options, args, masks):
    from gradcam.evaluation.confidence import average_drop_increase
    from gradcam.evaluation.perturbation import deletion_insertion
    from gradcam.evaluation.pointing import pointing_game
    from gradcam.explanation import explain

    maps = explain(model, images, targets, method.name, layer=args.layer,
                   batch_size=args.batch_size, **options).map
    curves = deletion_insertion(model, images, maps, targets, args.steps, args.batch_size,
                                args.deletion_baseline, args.insertion_baseline)
    confidence = average_drop_increase(model, images, maps, targets, args.batch_size)
    values = {"deletion_auc": curves["deletion_auc"], "insertion_auc": curves["insertion_auc"],
              "average_drop": 100.0 * confidence["drop"],
              "increase_in_confidence": 100.0 * confidence["increase"].astype(float)}
    if masks is not None:
        game = pointing_game(maps, masks, args.tolerance)
        values["pointing_hit"] = 100.0 * game["hit"].astype(float)
        values["energy_in_box"] = game["energy"]
    return values, curves


def _csv(rows):
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def plot_curves(path, mean_curves):
    from gradcam.visualize import new_figure, save_figure

    figure, axes = new_figure(1, 2, 4.5, 3.4)
    for ax, kind in zip(axes.flat, ("deletion", "insertion")):
        for name, curves in mean_curves.items():
            values = curves[f"{kind}_curve"]
            ax.plot(np.linspace(0, 1, len(values)), values, label=name)
        ax.set_xlabel(f"fraction of pixels {'removed' if kind == 'deletion' else 'inserted'}")
        ax.set_ylabel("target probability")
        ax.set_title(kind, fontsize=10)
    axes[0, 1].legend(fontsize=7)
    figure.tight_layout()
    save_figure(path, figure)


def run(args):
    from gradcam.evaluation.report import markdown_table, write_text
    from gradcam.images import load_image

    if args.steps < 1:
        raise UserError(f"--steps must be at least 1, got {args.steps}")
    methods = parse_methods(args.methods, ["grad_cam"])
    parsed = parse_options(args.options)
    options = {m.name: options_for(m, parsed, strict=len(methods) == 1, seed=args.seed) for m in methods}
    photos = [load_image(p) for p in args.images]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(args)
    masks = read_boxes(args.boxes, args.images, model.image_size) if args.boxes else None
    images = np.stack([model.prepare(p, args.central_fraction) for p in photos])
    targets = np.full(len(images), model.class_index(args.classes)) if args.classes else \
        model.predict(images, args.batch_size).argmax(1)
    metrics = METRICS + (BOX_METRICS if masks is not None else ())
    per_image = [["image", "method", "target"] + [k for k, _ in metrics]]
    summary = [["method"] + [f"{k}_{s}" for k, _ in metrics for s in ("mean", "std")]]
    table, mean_curves = [], {}
    for method in methods:
        values, curves = evaluate_method(model, method, images, targets, options[method.name], args, masks)
        mean_curves[method.name] = {k: curves[k].mean(0) for k in ("deletion_curve", "insertion_curve")}
        for i, path in enumerate(args.images):
            per_image.append([path, method.name, model.label(targets[i])] +
                             [f"{values[k][i]:.6g}" for k, _ in metrics])
        summary.append([method.name] + [f"{f(values[k]):.6g}" for k, _ in metrics
                                        for f in (np.mean, np.std)])
        table.append([method.name] + [f"{np.mean(values[k]):.3f} ± {np.std(values[k]):.3f}"
                                      for k, _ in metrics])
        print(f"{method.name}: done", flush=True)
    write_text(out / "per_image.csv", _csv(per_image))
    write_text(out / "summary.csv", _csv(summary))
    plot_curves(out / "curves.png", mean_curves)

    markdown = markdown_table(["method"] + [title for _, title in metrics], table)
    write_text(out / "summary.md", f"{len(images)} images, {args.steps} steps, deletion baseline "
               f"{args.deletion_baseline}, insertion baseline {args.insertion_baseline}\n\n{markdown}")
    print(markdown)
    print(f"wrote {out}/per_image.csv, summary.csv, summary.md, curves.png")
    return 0
