"""Multi-object test images built from real photos that ship with scikit-image, with the tile
(mask) each photo occupies: the object locations are known by construction."""

from collections import OrderedDict

import numpy as np
import skimage  # skimage.data loads on first use
from PIL import Image


def benchmark_photos():
    """Distinct photos with a clear object (cat, espresso, astronaut, rocket, motorcycle)."""
    return OrderedDict(
        [
            ("chelsea", skimage.data.chelsea()),
            ("coffee", skimage.data.coffee()),
            ("astronaut", skimage.data.astronaut()),
            ("rocket", skimage.data.rocket()),
            ("motorcycle", skimage.data.stereo_motorcycle()[0]),
        ]
    )


def fit_crop(photo, width, height):
    """Central crop of the photo to the aspect width:height, resized to width x height (uint8)."""
    h, w = photo.shape[:2]
    crop_w, crop_h = min(w, round(h * width / height)), min(h, round(w * height / width))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    crop = Image.fromarray(
        np.ascontiguousarray(photo[top : top + crop_h, left : left + crop_w, :3])
    )
    return np.asarray(crop.resize((width, height), Image.BILINEAR), np.uint8)


def collage(photos, rows, cols, size):
    """size x size uint8 image of rows x cols tiles, photos filled row by row, and one boolean
    size x size mask per photo marking its tile."""
    if len(photos) != rows * cols:
        raise ValueError(f"{rows}x{cols} collage needs {rows * cols} photos, got {len(photos)}")
    edges_y = np.linspace(0, size, rows + 1).round().astype(int)
    edges_x = np.linspace(0, size, cols + 1).round().astype(int)
    image = np.zeros((size, size, 3), np.uint8)
    masks = []
    for i, photo in enumerate(photos):
        (y0, y1), (x0, x1) = edges_y[i // cols : i // cols + 2], edges_x[i % cols : i % cols + 2]
        image[y0:y1, x0:x1] = fit_crop(photo, x1 - x0, y1 - y0)
        mask = np.zeros((size, size), bool)
        mask[y0:y1, x0:x1] = True
        masks.append(mask)
    return image, masks


def side_by_side(left, right, size):
    """Two-object scene: two tall half-width strips (1 x 2 collage)."""
    return collage([left, right], 1, 2, size)
