"""Score explanation methods on IMAGES: deletion and insertion AUC (Petsiuk et al. 2018, RISE),
average drop and increase in confidence (Chattopadhay et al. 2018), and, with --boxes, the
pointing game. --protocol picks the deletion/insertion protocol: default (gradcam-slim's own) or
rise (the RISE paper's). --boxes boxes.json (network-input pixels) adds the pointing game and
energy in box on the images the network sees; --boxes DIR (Pascal VOC / ILSVRC XML files, one per
image) runs the weakly-supervised localisation and pointing game of the CAM / Grad-CAM papers and
writes OUT/localization.json. Prints method x metric, writes per-image and summary CSVs, a JSON
that names the protocol, seed, package versions and checkpoint SHA-256, and a plot of the mean
deletion/insertion curves."""

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

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

METRICS = (
    ("deletion_auc", "deletion AUC (lower better)"),
    ("insertion_auc", "insertion AUC (higher better)"),
    ("average_drop", "average drop % (lower better)"),
    ("increase_in_confidence", "increase in confidence % (higher better)"),
)
BOX_METRICS = (
    ("pointing_hit", "pointing game % (higher better)"),
    ("energy_in_box", "energy in box (higher better)"),
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


def read_boxes(path, images, size):
    """Object masks per image from the --boxes file (every image must have at least one box)."""
    from gradcam.evaluation.pointing import box_mask

    try:
        boxes = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"--boxes {path}: {exc}") from None
    if not isinstance(boxes, dict):
        raise UserError(f"--boxes {path}: expected a JSON object {{image file name: boxes}}")
    masks = []
    for image in images:
        entry = boxes.get(Path(image).name, boxes.get(str(image)))
        if not entry:
            raise UserError(f"--boxes {path}: no box for {Path(image).name}")
        shape = (size, size) if np.isscalar(size) else tuple(size)  # the model's (H, W) frame
        mask = np.zeros(shape, bool)
        for box in entry:
            if len(box) != 4:
                raise UserError(f"--boxes {path}: a box is [top, left, bottom, right], got {box}")
            mask |= box_mask(shape, box)
        if not mask.any():
            raise UserError(f"--boxes {path}: the boxes of {Path(image).name} are empty")
        masks.append(mask)
    return masks


def protocol_curve_set(model, images, maps, targets, protocol, batch_size):
    """Deletion/insertion curves [N, points] and AUCs [N] of each (image, map, target) under a
    ``PerturbationProtocol``; the score is the target's softmax probability."""
    from gradcam.evaluation.perturbation import probability_fn
    from gradcam.evaluation.protocols import protocol_curves

    per_image = [
        protocol_curves(
            probability_fn(model, target, batch_size), image, saliency, protocol, batch_size
        )
        for image, saliency, target in zip(images, maps, targets)
    ]
    return {
        key: np.stack([np.asarray(c[key]) for c in per_image])
        for key in ("deletion_curve", "insertion_curve", "deletion_auc", "insertion_auc")
    }


def evaluate_method(model, method, images, targets, options, args, masks, protocol=None):
    """Per-image metric values {metric: [N]} and the curves of one method; ``protocol`` defaults
    to the one the flags in ``args`` describe."""
    from gradcam.evaluation.confidence import average_drop_increase
    from gradcam.evaluation.pointing import pointing_game
    from gradcam.explanation import explain

    protocol = protocol or perturbation_protocol(args)
    maps = explain(
        model, images, targets, method.name, layer=args.layer, batch_size=args.batch_size, **options
    ).map
    curves = protocol_curve_set(model, images, maps, targets, protocol, args.batch_size)
    confidence = average_drop_increase(model, images, maps, targets, args.batch_size)
    values = {
        "deletion_auc": curves["deletion_auc"],
        "insertion_auc": curves["insertion_auc"],
        "average_drop": 100.0 * confidence["drop"],
        "increase_in_confidence": 100.0 * confidence["increase"].astype(float),
    }
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


def protocol_images(model, photos, protocol, central_fraction):
    """The N x S x S x 3 images the network sees under a protocol's image geometry."""
    from gradcam.evaluation.localization import resize_whole

    if protocol.image_geometry == "whole":
        return np.stack([resize_whole(p, model.input_size) for p in photos])
    return np.stack([model.prepare(p, central_fraction) for p in photos])


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


def run_perturbation(model, methods, options, args, protocol, record, out, photos):
    """Deletion/insertion, confidence drop and (JSON boxes) pointing game: CSVs, summary.md,
    summary.json, curves.png; prints the table."""
    from gradcam.evaluation.report import markdown_table, write_json, write_text

    images = protocol_images(model, photos, protocol, args.central_fraction)
    json_boxes = args.boxes and not Path(args.boxes).is_dir()
    masks = read_boxes(args.boxes, args.images, model.input_size) if json_boxes else None
    targets = (
        np.full(len(images), model.class_index(args.classes))
        if args.classes
        else model.predict(images, args.batch_size).argmax(1)
    )
    metrics = METRICS + (BOX_METRICS if masks is not None else ())
    per_image = [["image", "method", "target"] + [k for k, _ in metrics]]
    summary = [["method"] + [f"{k}_{s}" for k, _ in metrics for s in ("mean", "std")]]
    table, mean_curves, results = [], {}, {}
    for method in methods:
        values, curves = evaluate_method(
            model, method, images, targets, options[method.name], args, masks, protocol
        )
        mean_curves[method.name] = {
            k: curves[k].mean(0) for k in ("deletion_curve", "insertion_curve")
        }
        for i, path in enumerate(args.images):
            per_image.append(
                [path, method.name, model.label(targets[i])]
                + [f"{values[k][i]:.6g}" for k, _ in metrics]
            )
        summary.append(
            [method.name] + [f"{f(values[k]):.6g}" for k, _ in metrics for f in (np.mean, np.std)]
        )
        table.append(
            [method.name]
            + [f"{np.mean(values[k]):.3f} ± {np.std(values[k]):.3f}" for k, _ in metrics]
        )
        results[method.name] = {
            "options": options[method.name],
            "metrics": {
                k: {
                    "mean": float(np.mean(values[k])),
                    "std": float(np.std(values[k])),
                    "per_image": values[k],
                }
                for k, _ in metrics
            },
            "mean_deletion_curve": mean_curves[method.name]["deletion_curve"],
            "mean_insertion_curve": mean_curves[method.name]["insertion_curve"],
        }
        print(f"{method.name}: done", flush=True)
    write_text(out / "per_image.csv", _csv(per_image))
    write_text(out / "summary.csv", _csv(summary))
    plot_curves(out / "curves.png", mean_curves)
    write_json(
        out / "summary.json",
        {
            **record,
            "protocol": protocol.as_dict(),
            "confidence_metrics": "average drop / increase in confidence on the protocol's images, "
            "maps and targets (Chattopadhay et al. 2018)",
            "pointing_game": None
            if masks is None
            else {
                "boxes": str(args.boxes),
                "tolerance": args.tolerance,
                "units": "pixels of the images the network sees under the protocol",
            },
            "model": model.name,
            "image_size": model.image_size,
            "layer": args.layer or model.default_layer,
            "images": list(args.images),
            "targets": [{"index": int(t), "label": model.label(t)} for t in targets],
            "metrics": {k: title for k, title in metrics},
            "methods": results,
        },
    )

    markdown = markdown_table(["method"] + [title for _, title in metrics], table)
    steps = (
        f"{protocol.steps} steps"
        if protocol.steps is not None
        else f"{protocol.step_pixels} pixels per step"
    )
    heading = (
        f"{len(images)} images, protocol {protocol.name}: {steps}, deletion substrate "
        f"{protocol.deletion_substrate}, insertion canvas {protocol.insertion_substrate}, "
        f"image {protocol.image_geometry}, class {protocol.target}"
    )
    write_text(out / "summary.md", f"{heading}\n\n{markdown}")
    print(heading)
    print(markdown)
    print(f"wrote {out}/per_image.csv, summary.csv, summary.json, summary.md, curves.png")


def progress_printer(method):
    """A progress callback printing at most about ten lines per method."""
    shown = [-1]

    def progress(done, total):
        tenth = 10 * done // total
        if tenth > shown[0]:
            shown[0] = tenth
            print(f"{method}: {done}/{total} images", flush=True)

    return progress


def run_localization(model, methods, options, args, record, out, items):
    """The CAM / Grad-CAM localisation protocol on VOC-boxed images: localization.json and
    localization.md; prints the table."""
    from gradcam.evaluation.box_evaluation import figures_table, localize_method, method_result
    from gradcam.evaluation.protocols import LocalizationProtocol
    from gradcam.evaluation.report import markdown_table, write_json, write_text

    protocol = LocalizationProtocol(threshold=args.loc_threshold, pointing_tolerance=args.tolerance)
    results = {}
    for method in methods:
        records = localize_method(
            model,
            method.name,
            items,
            protocol,
            layer=args.layer,
            batch_size=args.batch_size,
            options=options[method.name],
            progress=progress_printer(method.name),
        )
        results[method.name] = {
            "options": options[method.name],
            **method_result(records, model.labels),
        }
    write_json(
        out / "localization.json",
        {
            **record,
            "protocol": protocol.as_dict(),
            "model": model.name,
            "image_size": model.image_size,
            "layer": args.layer or model.default_layer,
            "boxes": str(args.boxes),
            "images": len(items),
            "methods": results,
        },
    )
    header, rows = figures_table(results)
    markdown = markdown_table(header, rows)
    heading = (
        f"localisation on {len(items)} images (protocol {protocol.name}: whole image, "
        f"threshold {protocol.threshold:g} of the maximum, IoU >= "
        f"{protocol.iou_threshold:g}, pointing tolerance "
        f"{protocol.pointing_tolerance:g} px)"
    )
    write_text(out / "localization.md", f"{heading}\n\n{markdown}")
    print(heading)
    print(markdown)
    print(f"wrote {out}/localization.json, localization.md")


def run(args):
    from gradcam.evaluation.box_evaluation import read_box_set
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
    photos = None if protocol is None else [load_image(p) for p in args.images]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(args)
    record = provenance(model.source, 0 if args.seed is None else args.seed)
    items = read_box_set(args.images, args.boxes, model.labels) if voc else None
    if protocol is not None:
        run_perturbation(model, methods, options, args, protocol, record, out, photos)
    if voc:
        run_localization(model, methods, options, args, record, out, items)
    return 0
