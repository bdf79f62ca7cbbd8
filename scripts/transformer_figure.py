"""Grad-CAM, attention rollout and generic attention side by side on one picture of a small
vision transformer trained on planted evidence: results/transformers/vit_methods.png.

    python scripts/transformer_figure.py [--out results/transformers] [--epochs 6]

The ViT is tests/vit_models.py's ``plain_vit`` (48 px, patch 8, two blocks, class token) trained
for a few epochs, in an eager subprocess, on pictures of noise with one bright square in one of
four quadrants; the class is the quadrant. So the evidence is known: a map that localises puts
its mass on the square. The picture explained is one such image, not seen in training. Prints
each method's share of the map's mass inside the square.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradcam.explanation import explain  # noqa: E402
from gradcam.methods import get_method  # noqa: E402
from gradcam.model import Model  # noqa: E402
from gradcam.visualize import panel_figure, save_figure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZE, SQUARE = 48, 12
METHODS = ("grad_cam", "attention_rollout", "generic_attention")
TRAIN = """
import sys
sys.path.insert(0, {tests!r})
import numpy as np
import keras
import vit_models as v
data = np.load({data!r})
v.CLASSES = 4
model = v.plain_vit(1, 0)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
history = model.fit(data["images"], data["labels"], epochs={epochs}, batch_size=32, verbose=0)
print(history.history["accuracy"][-1])
model.save({path!r})
"""


def planted(count, seed):
    """Noise pictures with a bright square in a random quadrant; (images, labels, boxes)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 120, (count, SIZE, SIZE, 3)).astype(np.float32)
    labels = rng.integers(0, 4, count)
    boxes = []
    for image, label in zip(images, labels):
        top = (label // 2) * SIZE // 2 + rng.integers(0, SIZE // 2 - SQUARE + 1)
        left = (label % 2) * SIZE // 2 + rng.integers(0, SIZE // 2 - SQUARE + 1)
        image[top : top + SQUARE, left : left + SQUARE] = 255
        boxes.append((top, left))
    return images, labels.astype(np.int32), boxes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "transformers"))
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        images, labels, _ = planted(2000, 0)
        np.savez(Path(directory) / "data.npz", images=images, labels=labels)
        path = str(Path(directory) / "vit.keras")
        code = TRAIN.format(
            tests=str(ROOT / "tests"),
            data=str(Path(directory) / "data.npz"),
            epochs=args.epochs,
            path=path,
        )
        done = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        )
        print(f"training accuracy {float(done.stdout.split()[-1]):.3f}")
        model = Model(path)
    test, test_labels, boxes = planted(1, 1)
    panels, shares = [], {}
    inside = np.zeros((SIZE, SIZE), bool)
    top, left = boxes[0]
    inside[top : top + SQUARE, left : left + SQUARE] = True
    for method in METHODS:
        result = explain(model, test, int(test_labels[0]), method)
        shares[method] = float(result.map[0][inside].sum() / max(result.map[0].sum(), 1e-12))
        title = get_method(method).title
        panels.append((f"{title} ({shares[method]:.0%} in square)", result.overlay(0)))
    predicted = int(model.predict(test).argmax())
    model.close()
    figure = panel_figure(test[0].astype(np.uint8), panels)
    figure.suptitle(
        f"ViT, class token; true quadrant {test_labels[0]}, predicted {predicted}", y=1.06
    )
    target = out / "vit_methods.png"
    save_figure(target, figure)
    for method, share in shares.items():
        print(f"{method:18s} share of the map inside the planted square: {share:.2f}")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
