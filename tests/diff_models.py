"""Build the toy classifiers of tests/test_diff.py (run as ``python tests/diff_models.py OUT``, in
its own process so that TensorFlow's eager mode stays out of the test process).

Every model is input -> Conv2D(2, 1x1, no bias: channel 0 = red, channel 1 = green) -> ReLU ->
global average pooling -> Dense(softmax), so Grad-CAM's map of class 0 at the ReLU is the colour
plane that class 0's head weight reads: the evidence is placed by the head.

- ``red.keras`` (40 px): class 0 reads red, class 1 green;
- ``green.keras`` (40 px): class 0 reads green, class 1 red;
- ``red48.keras``: red.keras's weights at 48 px (another input size, the same evidence);
- ``three.keras``: three classes (another label space);
- ``boxes/``: 40 x 40 PNGs with a red box (rows 4-15, columns 2-21) and a green box (rows 4-15,
  columns 12-31; green over red where they overlap), in class folders ``class 0``/``class 1``.
"""

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
from PIL import Image  # noqa: E402

RED_BOX = (slice(4, 16), slice(2, 22))
GREEN_BOX = (slice(4, 16), slice(12, 32))


def placed(size, head):
    pixels = keras.Input((size, size, 3), name="pixels")
    conv = keras.layers.Conv2D(2, 1, use_bias=False, name="colours")
    x = keras.layers.ReLU(name="relu")(conv(pixels))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    dense = keras.layers.Dense(len(head), activation="softmax", name="head")
    model = keras.Model(pixels, dense(x))
    conv.set_weights([np.array([[[[1, 0], [0, 1], [0, 0]]]], np.float32)])
    dense.set_weights([np.array(head, np.float32).T, np.zeros(len(head), np.float32)])
    return model


def main(out):
    out = Path(out)
    placed(40, [[1, 0], [0, 1]]).save(out / "red.keras")
    placed(40, [[0, 1], [1, 0]]).save(out / "green.keras")
    placed(48, [[1, 0], [0, 1]]).save(out / "red48.keras")
    placed(40, [[1, 0], [0, 1], [0.5, 0.5]]).save(out / "three.keras")
    for k in range(3):
        for c in (0, 1):
            image = np.zeros((40, 40, 3), np.uint8)
            image[RED_BOX + (0,)] = 200 - 10 * k
            image[GREEN_BOX + (1,)] = 190 - 10 * k + 5 * c
            folder = out / "boxes" / f"class {c}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"image{k}.png")


if __name__ == "__main__":
    main(sys.argv[1])
