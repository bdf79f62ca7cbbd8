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

Large photos can be decoded reduced (``gradcam.images.load_scaled``, JPEG DCT scaling):
``decode_size`` gives the smallest size that keeps the network input nearly exact, and
``crop_and_resize`` given the reduction factor places the crop in the full photo's coordinates (a
fractional box of the reduced image), so the crop does not move; with factor 1 it is the exact
path, unchanged.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image

from gradcam.arrays import frame_shape
from gradcam.errors import UserError
from gradcam.images import ScaledImage, decode_min_size


@dataclass(frozen=True)
class Preprocessing:
    """A preprocessing style: its geometry (outside the graph) and value normalisation (inside)."""

    name: str
    geometry: (
        str  # "crop_both" (Slim inception central_crop) or "shorter_side" (resize + square crop)
    )
    default_fraction: float
    normalize: Callable  # tf tensor in [0, 255] -> network input tensor

    def prepare(self, photo, size: int, central_fraction: Optional[float] = None) -> np.ndarray:
        """The uint8 ``size`` x ``size`` x 3 image the network sees, from an RGB uint8 photo
        (this style's crop and resize; ``central_fraction`` overrides its crop), or from a
        ``gradcam.images.ScaledImage`` (a photo decoded reduced: the crop is placed in the full
        photo's coordinates)."""
        if isinstance(photo, ScaledImage):
            return crop_and_resize(
                photo.pixels, size, self, central_fraction, photo.factor, photo.full_size
            )
        return crop_and_resize(photo, size, self, central_fraction)

    def decode_size(self, size: int, central_fraction: Optional[float] = None) -> tuple:
        """(min_width, min_height) at which to decode photos for ``prepare`` at ``size``
        (``gradcam.images.load_scaled(path, ...)``; see ``gradcam.images``)."""
        return decode_size(self, size, central_fraction)


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
        raise UserError(
            f"unknown preprocessing {name!r}; valid: {', '.join(sorted(PREPROCESSING))}"
        )
    return PREPROCESSING[name]


def _fraction(prep, central_fraction):
    fraction = prep.default_fraction if central_fraction is None else float(central_fraction)
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"{{argument}} must be in (0, 1], got {fraction}", "central_fraction")
    return fraction


def crop_box(width, height, geometry, fraction, aspect=1.0):
    """(left, top, crop width, crop height) of the central crop of a width x height image;
    ``aspect``: the network input's width / height, which a "shorter_side" crop keeps."""
    if geometry == "crop_both":
        ch, cw = max(1, round(height * fraction)), max(1, round(width * fraction))
    else:
        side = min(height, width / aspect) * fraction
        ch, cw = max(1, round(side)), max(1, round(side * aspect))
    return (width - cw) // 2, (height - ch) // 2, cw, ch


def decode_size(preprocessing, size, central_fraction=None, reducing_gap=2.0):
    """(min_width, min_height) to decode a photo at for ``crop_and_resize`` to stay nearly exact
    (``gradcam.images.decode_min_size`` of the preprocessing's geometry and crop fraction)."""
    prep = get_preprocessing(preprocessing) if isinstance(preprocessing, str) else preprocessing
    return decode_min_size(prep.geometry, size, _fraction(prep, central_fraction), reducing_gap)


def crop_and_resize(image, size, preprocessing, central_fraction=None, factor=1, full_size=None):
    """Return the uint8 H x W x 3 image the network sees, from an RGB uint8 array.

    Args:
        image: RGB uint8 [H, W, 3]: the photo, or the photo reduced by ``factor``
            (``gradcam.images.load_scaled``).
        size: the network input's (H, W), or S for S x S.
        preprocessing: a ``Preprocessing`` or its name.
        central_fraction: crop fraction (None: the preprocessing's default).
        factor: how many times larger the full photo is on each side (1: ``image`` is the photo).
        full_size: (width, height) of the full photo when ``factor`` > 1.

    With ``factor`` 1 the crop is cut in whole pixels and bilinearly resized. A reduced image gets
    the crop of the full photo, placed in its coordinates divided by ``factor`` (fractional), cut
    to the whole reduced pixels that cover it and resized from exactly that box (PIL's ``box``),
    so the crop does not move by up to half a reduced pixel (see ``gradcam.images``).
    """
    prep = get_preprocessing(preprocessing) if isinstance(preprocessing, str) else preprocessing
    fraction = _fraction(prep, central_fraction)
    height, width = frame_shape(size)
    if factor == 1:
        h, w = image.shape[:2]
        left, top, cw, ch = crop_box(w, h, prep.geometry, fraction, width / height)
        crop = Image.fromarray(np.ascontiguousarray(image[top : top + ch, left : left + cw]))
        return np.asarray(crop.resize((width, height), Image.BILINEAR), dtype=np.uint8)
    left, top, cw, ch = crop_box(*full_size, prep.geometry, fraction, width / height)
    x0, y0 = left // factor, top // factor  # the reduced pixels covering the crop
    x1, y1 = -(-(left + cw) // factor), -(-(top + ch) // factor)
    crop = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]))
    box = (
        left / factor - x0,
        top / factor - y0,
        (left + cw) / factor - x0,
        (top + ch) / factor - y0,
    )
    return np.asarray(crop.resize((width, height), Image.BILINEAR, box=box), dtype=np.uint8)
