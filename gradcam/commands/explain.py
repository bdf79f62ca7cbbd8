"""Explain why the network predicts a class for each IMAGE: prints the top-k, writes a figure
(input + one panel per target class) and optionally the raw arrays."""
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from gradcam.commands.common import add_method_arguments, add_model_arguments, load_model, top_k
from gradcam.errors import UserError

NAME = "explain"
HELP = "explain images with one method (Grad-CAM by default)"


def add_arguments(parser):
    from gradcam.visualize import STYLES

    parser.add_argument("images", nargs="+", metavar="IMAGE")
    add_model_arguments(parser)
    add_method_arguments(parser)
    parser.add_argument("--class", dest="classes", action="append", metavar="CLASS",
                        help="target class (name or model-space index); repeat for several; "
                        "default: the top class")
    parser.add_argument("--top-k", type=int, default=5, help="print the k most probable classes")
    parser.add_argument("--style", default="heatmap", choices=STYLES)
    parser.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity")
    parser.add_argument("--output", help="PNG path (one image) or directory (default: results/)")
    parser.add_argument("--save-npz", nargs="?", const="", metavar="PATH",
                        help="also save arrays (logits, target, map, lowres, input); default path: "
                        "next to the PNG")
    parser.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def _output_path(args, image_path):
    default_name = f"{Path(image_path).stem}_{args.method}.png"
    if args.output is None:
        Path("results").mkdir(exist_ok=True)
        return Path("results") / default_name
    out = Path(args.output)
    if out.is_dir() or args.output.endswith("/"):
        return out / default_name
    if len(args.images) > 1:
        raise UserError("--output must be a directory when several images are given")
    if out.suffix.lower() != ".png":
        raise UserError(f"--output {out}: expected a .png file or a directory")
    return out


def _save_npz(path, result, image):
    from gradcam.visualize import atomic_write

    one = len(result.target) == 1
    arrays = {
        "logits": result.logits[0].astype(np.float32),
        "target": int(result.target[0]) if one else result.target.astype(np.int64),
        "map": result.map[0] if one else result.map,
        "input": image,
        "degenerate": bool(result.degenerate[0]) if one else result.degenerate,
    }
    if result.lowres is not None:
        arrays["lowres"] = (result.lowres[0] if one else result.lowres).astype(np.float32)

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(path, write)


def _method_options(args):
    from gradcam.commands.method_options import options_for, parse_options
    from gradcam.methods import get_method

    return options_for(get_method(args.method), parse_options(args.options), strict=True,
                       seed=args.seed)


def explain_image(model, args, image_path):
    """Everything for one image; returns the JSON-able record."""
    from gradcam.explain import explain
    from gradcam.images import load_image
    from gradcam.visualize import overlay, panel_figure, save_figure

    if args.top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {args.top_k}")
    png = _output_path(args, image_path)
    image = model.prepare(load_image(image_path), args.central_fraction)
    targets = [model.class_index(c) for c in args.classes or []]
    copies = np.repeat(image[None], max(len(targets), 1), 0)  # no --class: the top class
    result = explain(model, copies, targets or None, args.method, args.layer, args.batch_size,
                     **_method_options(args))
    targets = [int(t) for t in result.target]
    probabilities = result.probabilities[0]
    panels = [(f"{model.label(t)} ({t}) p={probabilities[t]:.3f}",
               overlay(image, m, args.style, args.alpha)) for t, m in zip(targets, result.map)]
    save_figure(png, panel_figure(image, panels))
    record = {"image": str(image_path), "model": model.spec.name, "method": args.method,
              "top_k": top_k(model, probabilities, args.top_k),
              "targets": [{"index": t, "label": model.label(t),
                           "probability": float(probabilities[t]),
                           "all_zero_map": bool(d)} for t, d in zip(targets, result.degenerate)],
              "output": str(png)}
    if args.save_npz is not None:
        npz = Path(args.save_npz) if args.save_npz else png.with_suffix(".npz")
        _save_npz(npz, result, image)
        record["npz"] = str(npz)
    if result.extras:
        record["extras"] = {k: np.asarray(v).tolist() for k, v in result.extras.items()}
    return record


def _print_text(record):
    print(f"{record['image']}  [{record['model']}]")
    for row in record["top_k"]:
        print(f"  {row['index']:5d}  {row['probability']:.4f}  {row['label']}")
    for t in record["targets"]:
        print(f"  {record['method']} for {t['label']} ({t['index']}, p={t['probability']:.4f})")
    print(f"  wrote {record['output']}" + (f" and {record['npz']}" if "npz" in record else ""))


def _check_inputs(args):
    """Decode every image (then let it go: memory stays that of one image) and refuse unwritable
    outputs before the (slow) model is built, so a typo costs no time and nothing is written for
    a run that cannot finish."""
    from gradcam.images import load_image
    from gradcam.visualize import _check_writable

    for image_path in args.images:
        with warnings.catch_warnings():  # said once, when the image is used
            warnings.simplefilter("ignore")
            load_image(image_path)
        png = _output_path(args, image_path)
        _check_writable(png)
        if args.save_npz:
            _check_writable(args.save_npz)


def run(args):
    _check_inputs(args)
    model = load_model(args)
    for image_path in args.images:
        record = explain_image(model, args, image_path)
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            _print_text(record)
    sys.stdout.flush()
    return 0
