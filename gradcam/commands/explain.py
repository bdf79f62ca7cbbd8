"""Explain why the network predicts a class for each IMAGE: prints the top-k, writes a figure
(input + one panel per target class) and optionally the raw arrays."""

import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradcam.commands.common import (
    add_class_argument,
    add_method_arguments,
    add_model_arguments,
    load_model,
)
from gradcam.errors import UserError
from gradcam.postprocess import STYLES

KEEP_DECODED_BYTES = 256 * 2**20  # photos the input check keeps for explaining, all together
NAME = "explain"
HELP = "explain images with one method (Grad-CAM by default)"


def add_arguments(parser):
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    add_model_arguments(parser)
    add_method_arguments(parser)
    add_class_argument(
        parser,
        repeat=True,
        help_text="target class (name or model-space index); "
        "repeat for several; default: the top class",
    )
    parser.add_argument("--top-k", type=int, default=5, help="print the k most probable classes")
    parser.add_argument("--style", default="heatmap", choices=STYLES)
    parser.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity")
    parser.add_argument("--output", help="PNG path (one image) or directory (default: results/)")
    parser.add_argument(
        "--save-npz",
        nargs="?",
        const="",
        metavar="PATH",
        help="also save arrays (logits, target, map, lowres, input); default path: next to the PNG",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def _output_path(args, image_path):
    default_name = f"{Path(image_path).stem}_{args.method}.png"
    if args.output is None:
        return Path("results") / default_name
    out = Path(args.output)
    if out.is_dir() or args.output.endswith("/"):
        return out / default_name
    if len(args.images) > 1:
        raise UserError("--output must be a directory when several images are given")
    if out.suffix.lower() != ".png":
        raise UserError(f"--output {out}: expected a .png file or a directory")
    return out


def _npz_path(args, png):
    return Path(args.save_npz) if args.save_npz else png.with_suffix(".npz")


def explain_image(model, args, image_path, options, decoded=None):
    """Everything for one image; returns the JSON-able record. ``decoded``: the photo the input
    check kept (``KeptPhoto``), so the file is not decoded again; None decodes it here."""
    from gradcam.explanation import explain
    from gradcam.methods import get_method

    png = _output_path(args, image_path)
    image = image_path
    if decoded is not None:
        for caught in decoded.warnings:  # said now, when the image is used, as a path would be
            warnings.warn_explicit(caught.message, caught.category, caught.filename, caught.lineno)
        image = decoded.photo
    result = explain(
        model,
        image,
        args.classes,
        get_method(args.method),  # its options were checked (``options_for``)
        layer=args.layer,
        batch_size=args.batch_size,
        central_fraction=args.central_fraction,
        contrast=args.contrast,
        score=args.score,
        **options,
    )
    result.save_figure(png, args.style, args.alpha)
    probabilities = result.probabilities[0]
    record = {
        "image": str(image_path),
        "model": model.name,
        "method": args.method,
        "top_k": result.top_k(args.top_k),
        "targets": [
            {
                "index": int(t),
                "label": result.label(t),
                "probability": float(probabilities[t]),
                "all_zero_map": bool(d),
            }
            for t, d in zip(result.target, result.degenerate)
        ],
        "output": str(png),
    }
    if result.contrast is not None:
        record["contrast"] = {
            "index": result.contrast,
            "label": result.label(result.contrast),
            "probability": float(probabilities[result.contrast]),
        }
    if result.score.kind != "logit":
        record["score"] = result.score.kind
    if args.save_npz is not None:
        record["npz"] = str(result.save(_npz_path(args, png)))
    if result.extras:
        record["extras"] = {
            k: v.tolist() if hasattr(v, "tolist") else v for k, v in result.extras.items()
        }
    return record


def _print_text(record):
    print(f"{record['image']}  [{record['model']}]")
    for row in record["top_k"]:
        print(f"  {row['index']:5d}  {row['probability']:.4f}  {row['label']}")
    rather = ""
    if "contrast" in record:
        c = record["contrast"]
        rather = f" rather than {c['label']} ({c['index']}, p={c['probability']:.4f})"
    for t in record["targets"]:
        print(
            f"  {record['method']} for {t['label']} ({t['index']}, p={t['probability']:.4f})"
            f"{rather}"
        )
    print(f"  wrote {record['output']}" + (f" and {record['npz']}" if "npz" in record else ""))


@dataclass(frozen=True, kw_only=True)
class KeptPhoto:
    """A photo the input check decoded and kept for ``explain_image``, with the warnings its
    decoding raised (said when the image is used)."""

    photo: np.ndarray
    warnings: tuple


def _check_inputs(args, keep_bytes=KEEP_DECODED_BYTES):
    """Decode every image and refuse unwritable outputs before the (slow) model is built, so a
    typo costs no time and nothing is written for a run that cannot finish -> {path: KeptPhoto} of
    the photos kept, in order, while they fit ``keep_bytes`` together (each image is then decoded
    once); the others are let go (memory stays bounded for a long argument list) and decoded
    again when used."""
    from gradcam.images import load_image
    from gradcam.visualize import check_writable

    if args.top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {args.top_k}")
    if args.output is None:
        Path("results").mkdir(exist_ok=True)
    kept, room = {}, keep_bytes
    for image_path in args.images:
        with warnings.catch_warnings(record=True) as caught:  # said once, when the image is used
            warnings.simplefilter("always")
            photo = load_image(image_path)
        if photo.nbytes <= room and image_path not in kept:
            kept[image_path] = KeptPhoto(photo=photo, warnings=tuple(caught))
            room -= photo.nbytes
        del photo
        png = _output_path(args, image_path)
        check_writable(png)
        if args.save_npz is not None:
            check_writable(_npz_path(args, png))
    return kept


def run(args):
    from gradcam.commands.method_options import options_for, parse_options
    from gradcam.methods import get_method

    options = options_for(
        get_method(args.method), parse_options(args.options), strict=True, seed=args.seed
    )
    decoded = _check_inputs(args)
    model = load_model(args)
    if args.model_file and args.layer is None and not args.json:
        print(
            f"{model.name}: layer {model.default_layer} (found; --layer chooses another, "
            "gradcam list layers --model-file lists them)"
        )
    for image_path in args.images:
        record = explain_image(model, args, image_path, options, decoded.pop(image_path, None))
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            _print_text(record)
    sys.stdout.flush()
    return 0
