"""Vision transformers: Grad-CAM at the default token layer against the graph's own forward +
backward to that layer, and attention rollout against one forward.

    python benchmarks/transformers.py            # ViT of plain Keras layers, 224 px, patch 16,
                                                 # 6 blocks, 192 channels, 8 images
    python benchmarks/transformers.py --quick    # 96 px, 2 blocks (seconds)

The model is built (random weights, class token) by tests/vit_models.py's ``plain_vit`` in an
eager subprocess and saved as a .keras file, then loaded like any model file. "limit" is one
session run of exactly the tensors the method needs (``benchmarks.limits.pass_fetches``: the
forward + backward to the layer; the forward with the attention probabilities); the ratio is the
median of per-repeat ratios, timed alternately (``benchmarks.timing.interleaved``).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.limits import pass_fetches  # noqa: E402
from benchmarks.timing import interleaved  # noqa: E402
from gradcam.explanation import explain  # noqa: E402
from gradcam.model import Model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUILD = """
import sys
sys.path.insert(0, {tests!r})
import vit_models as v
v.SIZE, v.PATCH, v.DIM, v.GRID = {size}, 16, {dim}, {size} // 16
model = v.plain_vit(1, 0, blocks={blocks})
model.save({path!r})
"""


def build(directory, size, dim, blocks):
    path = str(Path(directory) / "vit.keras")
    code = BUILD.format(tests=str(ROOT / "tests"), size=size, dim=dim, blocks=blocks, path=path)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return path


def run(quick=False):
    size, dim, blocks, count, repeats = (96, 64, 2, 4, 5) if quick else (224, 192, 6, 8, 15)
    with tempfile.TemporaryDirectory() as directory:
        model = Model(build(directory, size, dim, blocks))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, size, size, 3)).astype(np.float32)
    targets = np.arange(count, dtype=np.int32) % model.num_classes
    feed = {model.input_tensor: images, model.target_tensor: targets}
    backward = pass_fetches(model)["fwd_bwd_layer"]
    forward = [model.tensors(["attention"])["attention"], model.logits_tensor]
    rows = {}
    for name, fetches, method in (
        ("grad_cam", backward, "grad_cam"),
        ("attention_rollout", forward, "attention_rollout"),
    ):
        model.session.run(fetches, feed)
        explain(model, images, targets, method)
        ours, limit, ratio = interleaved(
            lambda m=method: explain(model, images, targets, m),
            lambda f=fetches: model.session.run(f, feed),
            repeats,
        )
        rows[name] = {"ours": ours, "limit": limit, "ratio": ratio}
    result = {
        "model": f"plain-Keras ViT {size} px, patch 16, {blocks} blocks, {dim} channels",
        "layer": model.default_layer,
        "images": count,
        "rows": rows,
    }
    model.close()
    return result


def summary_lines(result):
    lines = [f"{result['model']}, {result['images']} images, layer {result['layer']}"]
    limits = {"grad_cam": "forward + backward to the layer", "attention_rollout": "one forward"}
    for name, row in result["rows"].items():
        lines.append(
            f"{name:18s} {row['ours']['median'] * 1000:8.1f} ms  vs {limits[name]} "
            f"{row['limit']['median'] * 1000:8.1f} ms  ratio {row['ratio']:.2f}x (target <= 1.2x)"
        )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    result = run(args.quick)
    print("\n".join(summary_lines(result)))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
