"""A toy two-class image set whose evidence sits in a known place, for fine-tuning and tests.

    python scripts/make_marked_dataset.py OUT_DIR [--per-class 16] [--seed 0]

Every image is a random crop of a real photo shipped with scikit-image, 256 x 256. Images in
``marked/`` carry a bright magenta square in the top-left corner (MARK_BOX, with a few pixels of
jitter); images in ``plain/`` do not. A classifier trained on them can only separate the classes
by the mark, so its explanation for "marked" should point at the top-left corner.
"""

import argparse
from pathlib import Path

import numpy as np
import skimage.color
import skimage.data
from PIL import Image

SIZE = 256
MARK_BOX = (32, 32, 104, 104)  # top, left, bottom, right (before jitter)
MARK_COLOUR = (255, 0, 255)
PHOTOS = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "camera",
    "brick",
    "grass",
    "gravel",
    "moon",
    "coins",
    "cell",
)


def _photo(name):
    image = getattr(skimage.data, name)()
    return image if image.ndim == 3 else (skimage.color.gray2rgb(image))


def random_crop(rng, photos):
    """A random square crop (30-100 % of the shorter side) of a random photo, SIZE x SIZE."""
    photo = photos[rng.integers(len(photos))]
    h, w = photo.shape[:2]
    side = int(rng.uniform(0.3, 1.0) * min(h, w))
    top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = Image.fromarray(np.ascontiguousarray(photo[top : top + side, left : left + side]))
    return np.asarray(crop.resize((SIZE, SIZE), Image.BILINEAR))


def add_mark(image, rng):
    top, left, bottom, right = MARK_BOX
    dy, dx = rng.integers(-8, 9, 2)
    marked = image.copy()
    marked[top + dy : bottom + dy, left + dx : right + dx] = MARK_COLOUR
    return marked


def make_marked_dataset(out_dir, per_class=16, seed=0):
    """Write OUT_DIR/marked/*.png and OUT_DIR/plain/*.png; returns OUT_DIR as a Path."""
    rng = np.random.default_rng(seed)
    photos = [_photo(name) for name in PHOTOS]
    out = Path(out_dir)
    for name in ("marked", "plain"):
        (out / name).mkdir(parents=True, exist_ok=True)
    for i in range(per_class):
        Image.fromarray(add_mark(random_crop(rng, photos), rng)).save(
            out / "marked" / f"{i:03d}.png"
        )
        Image.fromarray(random_crop(rng, photos)).save(out / "plain" / f"{i:03d}.png")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--per-class", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = make_marked_dataset(args.out_dir, args.per_class, args.seed)
    print(f"wrote {2 * args.per_class} images to {out}/marked and {out}/plain")


if __name__ == "__main__":
    main()
