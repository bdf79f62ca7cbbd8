"""Image preprocessing, split in two so overlays use exactly the image the network saw.

1. ``crop_and_resize`` (numpy/PIL, outside the graph): the geometric part. Its uint8 output is the
   image the network sees and the one every overlay is drawn on.
2. ``normalize`` (inside the graph): maps that uint8-range float tensor to the value range the
   network was trained with.

Styles:
- ``inception`` (Slim ``inception_preprocessing`` eval path): central crop of ``fraction`` of height
  and width (0.875 by default), bilinear resize to size x size, values scaled to [-1, 1].
- ``vgg`` (Slim ``vgg_preprocessing``): shorter side to size / fraction (256 for 224), central
  size x size crop, per-channel ImageNet mean subtracted (RGB 123.68, 116.78, 103.94).
- ``efficientnet_lite``: geometry as ``vgg`` (shorter side 256, crop 224); values (x - 127) / 128,
  as in the EfficientNet-Lite reference preprocessing.
- ``raw``: resize to size x size, values passed through unchanged.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from gradcam.errors import UserError


@dataclass(frozen=True)
class Preprocessing:
    name: str
    geometry: str  # "crop_both" (Slim inception central_crop) or "shorter_side" (resize + square crop)
    default_fraction: float
    normalize: Callable  # tf tensor in [0, 255] -> network input tensor


def _inception(x):
    return x / 127.5 - 1.0


def _vgg(x):
    return x - np.array([123.68, 116.78, 103.94], np.float32)


def _lite(x):
    return (x - 127.0) / 128.0


PREPROCESSING = {
    p.name: p
    for p in (
        Preprocessing("inception", "crop_both", 0.875, _inception),
        Preprocessing("vgg", "shorter_side", 0.875, _vgg),
        Preprocessing("efficientnet_lite", "shorter_side", 0.875, _lite),
        Preprocessing("raw", "crop_both", 1.0, lambda x: x),
    )
}


def get_preprocessing(name):
    if name not in PREPROCESSING:
        raise UserError(f"unknown preprocessing {name!r}; valid: {', '.join(sorted(PREPROCESSING))}")
    return PREPROCESSING[name]


def crop_and_resize(image, size, preprocessing, central_fraction=None):
    """Return the uint8 size x size x 3 image the network sees, from an RGB uint8 array."""
    prep = get_preprocessing(preprocessing) if isinstance(preprocessing, str) else preprocessing
    fraction = prep.default_fraction if central_fraction is None else float(central_fraction)
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"{{argument}} must be in (0, 1], got {fraction}", "central_fraction")
    h, w = image.shape[:2]
    if prep.geometry == "crop_both":
        ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
    else:
        ch = cw = max(1, round(min(h, w) * fraction))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = Image.fromarray(np.ascontiguousarray(image[top:top + ch, left:left + cw]))
    return np.asarray(crop.resize((size, size), Image.BILINEAR), dtype=np.uint8)
