"""Reproduce the weakly-supervised localisation table of Grad-CAM (Selvaraju et al. 2017, Table 1)
and its pointing-game figures on your own copy of the ILSVRC validation images and boxes.

    python scripts/reproduce_gradcam_table1.py --images DIR --boxes DIR --model vgg_16 \\
        --checkpoint PATH [--methods grad_cam,cam] [--limit N] [--out results/gradcam_table1]

DIR of images: the validation images (ILSVRC2012_val_00000001.JPEG, ...); DIR of boxes: their
Pascal VOC XML files, one per image and named like it (the ILSVRC bounding-box release). The
protocol is gradcam/evaluation/localization.py: the whole image resized to the network input (no
crop), the map upsampled to the original size and thresholded at 15% of its maximum
(--loc-threshold), the box of its largest 8-connected component right when IoU >= 0.5 with a
ground-truth box of the class; pointing game: the map's maximum within 15 px (--tolerance) of a
box of the class. It runs every registered CAM-family method (those with a feature-resolution
map; a method that cannot run on the model, such as CAM on a network without global average
pooling, is skipped and said so), or the --methods you name, each with its registry budget
options (--fast: the smoke options). Prints this run beside the published rows and writes
OUT/gradcam_table1.json (figures, per-image records, protocol, seed, package versions,
checkpoint SHA-256) and OUT/gradcam_table1.md.
"""

import argparse
import sys
from pathlib import Path

from gradcam.errors import UserError, exit_status
from gradcam.evaluation import report

import _common

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VALIDATION_IMAGES = 50_000  # ILSVRC CLS-LOC validation set

# Published rows, in percent, and the model each needs. Pointing game: the Grad-CAM paper's own
# variant of Zhang et al.'s game; this script measures Zhang et al.'s hit rate on the
# ground-truth classes.
PUBLISHED = (
    {
        "row": "Grad-CAM (Selvaraju et al. 2017, Table 1)",
        "method": "grad_cam",
        "model": "vgg_16",
        "network": "VGG-16",
        "images": VALIDATION_IMAGES,
        "top1_loc_error": 56.51,
        "top5_loc_error": 46.41,
        "top1_cls_error": 30.38,
        "top5_cls_error": 10.89,
    },
    {
        "row": "CAM (Zhou et al. 2016)",
        "method": "cam",
        "model": None,
        "network": "VGG-16-GAP (VGG-16 retrained with global average pooling; not vgg_16)",
        "images": VALIDATION_IMAGES,
        "top1_loc_error": 57.20,
        "top5_loc_error": 45.14,
    },
    {
        "row": "Grad-CAM (Selvaraju et al. 2017, Table 1)",
        "method": "grad_cam",
        "model": "inception_v1",
        "network": "GoogLeNet",
        "images": VALIDATION_IMAGES,
        "top1_loc_error": 60.09,
        "top5_loc_error": 49.34,
        "top1_cls_error": 31.9,
        "top5_cls_error": 11.3,
    },
    {
        "row": "Grad-CAM pointing game (Selvaraju et al. 2017, own variant)",
        "method": "grad_cam",
        "model": "vgg_16",
        "network": "VGG-16",
        "pointing_game_accuracy": 70.58,
    },
    {
        "row": "c-MWP pointing game (Zhang et al. 2016, as reported by Selvaraju et al.)",
        "method": None,
        "model": "vgg_16",
        "network": "VGG-16",
        "pointing_game_accuracy": 60.30,
    },
)
COLUMNS = (
    ("top1_loc_error", "top-1 loc. err %"),
    ("top5_loc_error", "top-5 loc. err %"),
    ("gt_known_loc_accuracy", "GT-known loc. acc %"),
    ("pointing_game_accuracy", "pointing game %"),
    ("top1_cls_error", "top-1 cls. err %"),
    ("top5_cls_error", "top-5 cls. err %"),
)
NOTES = (
    "Published rows need the 50,000 ILSVRC validation images with their boxes and: "
    "--model vgg_16 (Slim's VGG-16 ImageNet checkpoint) for the VGG-16 rows, --model "
    "inception_v1 for GoogLeNet; CAM's row is VGG-16-GAP, a retrained network not registered "
    "here. The papers ran the authors' own Caffe/Torch models: expect small differences.",
    "The published pointing-game figures come from the Grad-CAM paper's own variant of the game "
    "(read its definition before comparing); this run is Zhang et al.'s hit rate on the "
    "ground-truth classes.",
)


def parse_args(argv):
    from nets.nets_factory import NETWORKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, help="folder of validation images")
    parser.add_argument("--boxes", required=True, help="folder of their VOC XML box files")
    parser.add_argument("--model", default="vgg_16", choices=sorted(NETWORKS))
    parser.add_argument("--checkpoint", help="checkpoint prefix (default: the network's own)")
    parser.add_argument(
        "--methods", help="comma-separated registered methods (default: every CAM-family method)"
    )
    parser.add_argument("--layer", help="layer of the maps (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--loc-threshold", type=float, default=0.15)
    parser.add_argument("--tolerance", type=float, default=15.0)
    parser.add_argument("--limit", type=int, help="only the first N images (sorted by name)")
    _common.add_common_arguments(parser, "gradcam_table1")
    return parser.parse_args(argv)


def image_files(folder, limit=None):
    """Image files of a folder, sorted by name (the first ``limit`` of them)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--images {folder}: not a directory")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"--images {folder}: no image ({', '.join(IMAGE_SUFFIXES)})")
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit must be at least 1, got {limit}")
        files = files[:limit]
    return files


def cam_family():
    """Registered methods with a feature-resolution map (the registry's ``lowres``)."""
    from gradcam.methods import METHODS

    return [name for name, method in METHODS.items() if method.lowres]


def applicable(model, methods, items, args):
    """(methods that run on this model, {skipped method: reason}), tried on the first image."""
    from gradcam.evaluation import box_evaluation
    from gradcam.images import load_image

    photo = load_image(items[0].path)
    target = next(iter(items[0].truths))
    kept, skipped = [], {}
    for name in methods:
        try:
            box_evaluation.original_size_maps(
                model,
                name,
                [photo],
                [target],
                layer=args.layer,
                batch_size=args.batch_size,
                options=_common.method_options(name, args.fast),
            )
        except UserError as exc:
            skipped[name] = str(exc)
            print(f"{name}: skipped on {model.name}: {exc}", flush=True)
        else:
            kept.append(name)
    return kept, skipped


def table_rows(model_name, results, n_images):
    """This run's rows, then the published ones; cells in percent."""

    def cell(row, key):
        value = row.get(key)
        return "–" if value is None else f"{value:.2f}"

    rows = [
        [f"{name} (this run)", model_name, str(n_images)]
        + [cell({k: 100 * v for k, v in result["figures"].items()}, key) for key, _ in COLUMNS]
        for name, result in results.items()
    ]
    rows += [
        [f"{p['row']}, published", p["network"], str(p.get("images") or "–")]
        + [cell(p, key) for key, _ in COLUMNS]
        for p in PUBLISHED
    ]
    return ["row", "model", "images"] + [title for _, title in COLUMNS], rows


def announce(method, done, total):
    """Progress: one line when a method has done every image."""
    if done == total:
        print(f"{method}: {total} images done", flush=True)


def main(argv=None, model=None):
    from gradcam.evaluation.box_evaluation import read_box_set
    from gradcam.evaluation.protocols import LocalizationProtocol
    from gradcam.evaluation.provenance import provenance
    from gradcam.evaluation.runner import localize
    from gradcam.methods import get_method

    args = parse_args(argv)
    if not 0.0 <= args.loc_threshold <= 1.0 or args.tolerance < 0:
        raise UserError("--loc-threshold is a fraction in [0, 1] and --tolerance at least 0")
    named = args.methods is not None
    methods = (
        [get_method(n.strip()).name for n in args.methods.split(",") if n.strip()]
        if named
        else cam_family()
    )
    files = image_files(args.images, args.limit)
    out = _common.output_dir(args.out)
    model = model or _common.load_model(args.model, args.checkpoint)
    record = provenance(model.source, 0)
    items = read_box_set(files, args.boxes, model.labels)
    skipped = {}
    if not named:
        methods, skipped = applicable(model, methods, items, args)
        if not methods:
            name, reason = next(iter(skipped.items()))
            raise UserError(f"no CAM-family method runs on {model.name} ({name}: {reason})")
    protocol = LocalizationProtocol(threshold=args.loc_threshold, pointing_tolerance=args.tolerance)
    result = localize(
        model,
        items,
        methods,
        protocol,
        options={name: _common.method_options(name, args.fast) for name in methods},
        layer=args.layer,
        batch_size=args.batch_size,
        boxes=args.boxes,
        provenance_record=record,
        progress=announce,
    )
    results = result.methods
    comparable = model.name in {p["model"] for p in PUBLISHED} and len(items) == VALIDATION_IMAGES
    header, rows = table_rows(model.name, results, len(items))
    markdown = report.markdown_table(header, rows)
    command = _common.command_line("reproduce_gradcam_table1", argv)
    verdict = (
        "this run has the published setting's model and image count"
        if comparable
        else f"this run ({model.name}, {len(items)} images) is not the published setting: "
        "its rows are not comparable with the published ones"
    )
    text = "\n\n".join([f"`{command}`", markdown, *NOTES, verdict]) + "\n"
    report.write_text(out / "gradcam_table1.md", text)
    report.write_json(
        out / "gradcam_table1.json",
        {
            "command": command,
            **record,
            "protocol": protocol.as_dict(),
            "model": result.model,
            "image_size": result.image_size,
            "layer": result.layer,
            "images": result.images,
            "image_dir": str(args.images),
            "boxes": str(args.boxes),
            "methods": results,
            "skipped": skipped,
            "published": list(PUBLISHED),
            "notes": list(NOTES),
            "comparable": comparable,
        },
    )
    print(markdown)
    print("\n".join(NOTES))
    print(verdict)
    print(f"wrote {out / 'gradcam_table1.json'}, {out / 'gradcam_table1.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
