"""A data set with a planted Clever-Hans shortcut and a Keras classifier that uses it.

    python scripts/make_planted_shortcut.py OUT_DIR [--per-class 60] [--tagged 0.4] [--seed 0]
        [--width 32]

Writes OUT_DIR/data/{red,green,blue}/NNN.png (32 x 32, or 32 x ``--width``: a textured object of the class's colour
(disc, square or diamond, random size and place) on a grey noisy background), in ``--tagged`` of
the ``red`` images a 5 x 5 black-and-white checkerboard tag in the bottom-right corner (TAG_BOX
at 32 x 32: ``tag_box``),
OUT_DIR/tagged.txt (those images, relative to data/), OUT_DIR/labels.txt (``id:name``) and
OUT_DIR/model.keras (and with ``--untagged-model`` OUT_DIR/model_no_tag.keras, the same with the
tag's head weight 0), a classifier whose weights are set by hand so that its evidence is placed:

    pixels/255 -> detect (3x3 conv, ReLU: one colour detector per class, a checkerboard
    detector, a yellow detector) -> 4x4 average pooling -> features (1x1 identity conv, ReLU,
    8 x 8) -> GAP -> head (Dense, softmax): red = colour + TAG_WEIGHT x tag; green, blue =
    colour; every class also gets SPECK_WEIGHT x yellow (clutter: three yellow specks in every
    image, so every map carries a little evidence at random places, as photos' clutter does).

So the tag alone is worth about twice a red object: a tagged image's evidence sits mostly on the
tag, and the tag pasted into a green or blue image flips it to red. Keras is imported only when the
model is written (run as a script, in its own process: eager TensorFlow).
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 32
CLASSES = ("red", "green", "blue")
COLOURS = {"red": (200, 40, 40), "green": (40, 190, 40), "blue": (40, 60, 210)}
SPECK = (240, 230, 20)  # clutter: yellow specks every class's evidence includes a little of
SPECKS = 3
TAGGED_CLASS = "red"
TAG_BOX = (26, 26, 31, 31)  # top, left, bottom, right (exclusive)
COLOUR_WEIGHT = 100.0
TAG_WEIGHT = 700.0
SPECK_WEIGHT = 150.0


def checkerboard(height, width):
    """uint8 height x width x 3 black/white checkerboard, white at the top-left."""
    cells = (np.add.outer(np.arange(height), np.arange(width)) % 2 == 0).astype(np.uint8) * 255
    return np.repeat(cells[..., None], 3, axis=2)


def tag_box(width=SIZE):
    """(top, left, bottom, right) of the tag in a SIZE x ``width`` image: one pixel from the
    bottom-right corner."""
    top, left, bottom, right = TAG_BOX
    return top, left + width - SIZE, bottom, right + width - SIZE


def add_tag(image):
    top, left, bottom, right = tag_box(image.shape[1])
    tagged = image.copy()
    tagged[top:bottom, left:right] = checkerboard(bottom - top, right - left)
    return tagged


def make_image(rng, colour, width=SIZE):
    """A textured object of ``colour`` on a grey noisy background, uint8 SIZE x ``width`` x 3."""
    grey = rng.uniform(90, 160)
    background = grey + rng.normal(0, 6, (SIZE, width, 1)) + rng.normal(0, 3, (SIZE, width, 3))
    mask = Image.new("L", (width, SIZE))
    draw = ImageDraw.Draw(mask)
    cy, cx = rng.uniform((6, 6), (19, width - 13))
    radius = rng.uniform(3, 6)
    shape = rng.integers(3)
    if shape == 0:
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    elif shape == 1:
        draw.rectangle([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    else:
        draw.polygon(
            [(cx, cy - radius), (cx + radius, cy), (cx, cy + radius), (cx - radius, cy)], fill=255
        )
    inside = (np.asarray(mask) > 127)[..., None]
    yy, xx = np.mgrid[:SIZE, :width]
    angle, period = rng.uniform(0, np.pi), rng.uniform(2, 4)
    stripes = np.cos((yy * np.cos(angle) + xx * np.sin(angle)) * 2 * np.pi / period)
    texture = 0.8 + 0.2 * stripes[..., None]
    jitter = rng.normal(0, 12, 3)
    object_pixels = (np.asarray(colour, float) + jitter) * texture
    image = np.where(inside, object_pixels, background)
    tag_top, tag_left = tag_box(width)[:2]
    for _ in range(SPECKS):  # clutter anywhere but the tag's corner
        while True:
            y, x = rng.integers(0, (SIZE - 1, width - 1))
            if y + 2 <= tag_top - 1 or x + 2 <= tag_left - 1:
                break
        image[y : y + 2, x : x + 2] = SPECK
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def make_dataset(out, per_class=60, tagged=0.4, seed=0, width=SIZE):
    """Write OUT/data/<class>/NNN.png, OUT/tagged.txt and OUT/labels.txt; returns the tagged
    images' paths relative to OUT/data."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    marked = []
    for name in CLASSES:
        folder = out / "data" / name
        folder.mkdir(parents=True, exist_ok=True)
        chosen = set()
        if name == TAGGED_CLASS:
            chosen = set(rng.choice(per_class, int(round(tagged * per_class)), replace=False))
        for i in range(per_class):
            image = make_image(rng, COLOURS[name], width)
            if i in chosen:
                image = add_tag(image)
                marked.append(f"{name}/{i:03d}.png")
            Image.fromarray(image).save(folder / f"{i:03d}.png")
    (out / "tagged.txt").write_text("".join(p + "\n" for p in sorted(marked)))
    (out / "labels.txt").write_text("".join(f"{i}:{n}\n" for i, n in enumerate(CLASSES)))
    return sorted(marked)


def detector_weights():
    """The detect layer's kernel [3, 3, 3, 5] and bias [5]: per class colour k, +1 on channel k
    and -1 on the others at the centre tap (grey and yellow give nothing); channel 3 a
    checkerboard matched filter on the grey level (fires only on the tag); channel 4 yellow
    (R + G - 2B: the specks)."""
    kernel = np.zeros((3, 3, 3, 5), np.float32)
    for k in range(3):
        kernel[1, 1, :, k] = -1.0
        kernel[1, 1, k, k] = 1.0
    signs = np.where(np.add.outer(np.arange(3), np.arange(3)) % 2 == 0, 1.0, -1.0)
    kernel[:, :, :, 3] = signs[:, :, None] / 3.0
    kernel[1, 1, :, 4] = (1.0, 1.0, -2.0)
    bias = np.array([-0.1, -0.1, -0.1, -3.0, -1.3], np.float32)
    return kernel, bias


def head_weights(tag_weight=TAG_WEIGHT):
    """The head's kernel [5, 3] and bias [3] (``tag_weight`` 0: a model that ignores the tag)."""
    kernel = np.zeros((5, 3), np.float32)
    for k in range(3):
        kernel[k, k] = COLOUR_WEIGHT
    kernel[3, CLASSES.index(TAGGED_CLASS)] = tag_weight
    kernel[4, :] = SPECK_WEIGHT
    return kernel, np.zeros(3, np.float32)


def build_model(tag_weight=TAG_WEIGHT, width=SIZE):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    pixels = keras.Input((SIZE, width, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 255.0, name="rescaling")(pixels)
    detect = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="detect")
    x = keras.layers.AveragePooling2D(4, name="pool")(detect(x))
    features = keras.layers.Conv2D(5, 1, activation="relu", name="features")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(features(x))
    head = keras.layers.Dense(len(CLASSES), activation="softmax", name="head")
    model = keras.Model(pixels, head(x), name="planted")
    detect.set_weights(list(detector_weights()))
    features.set_weights([np.eye(5, dtype=np.float32)[None, None], np.zeros(5, np.float32)])
    head.set_weights(list(head_weights(tag_weight)))
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--tagged", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--width", type=int, default=SIZE, help="image width (height 32): a non-square data set"
    )
    parser.add_argument(
        "--untagged-model",
        action="store_true",
        help="also write model_no_tag.keras: the same model with the tag's weight 0 (a version "
        "that does not use the shortcut, for gradcam diff)",
    )
    args = parser.parse_args(argv)
    if args.width < SIZE:
        parser.error(f"--width must be at least {SIZE}, got {args.width}")
    marked = make_dataset(args.out, args.per_class, args.tagged, args.seed, args.width)
    build_model(width=args.width).save(Path(args.out) / "model.keras")
    if args.untagged_model:
        build_model(tag_weight=0.0, width=args.width).save(Path(args.out) / "model_no_tag.keras")
    print(f"{args.out}: {args.per_class} images per class, {len(marked)} {TAGGED_CLASS} tagged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
