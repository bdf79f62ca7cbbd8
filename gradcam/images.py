"""Loading photos safely as RGB uint8 arrays (PIL), with one clear error for anything unusable.

Every failure is a ``UserError`` naming the file: missing, unreadable, empty, not an image,
damaged, too large (decompression bombs are refused from the header, before decoding) or too
small. EXIF orientation is applied; 16-bit, grey, palette, CMYK and transparent images become
8-bit RGB (transparency composited on white); animations give their first frame with a warning.

Decoding at the size the network needs (``load_image(path, min_size)``, or ``load_scaled``, which
also says by which factor): a JPEG is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain
(libjpeg's scaled inverse DCT, through PIL's ``Image.draft``), the smallest scale whose result
still covers ``min_size``; what is left, and other formats after a full decode, is box-averaged by
the largest whole factor that still covers it (``Image.reduce``). ``decode_min_size`` gives
``min_size`` for a preprocessing geometry: each side at least ``reducing_gap`` (default 2) times
what the central crop needs to keep S pixels (2 x 256 = 512 for Lite0). The network input then
differs from the full decode's by one extra box filter before the bilinear resize; with the crop
placed in the full photo's coordinates (``Model.prepare`` of a ``ScaledImage``, as batch mode
does) measured on ten 12-MP and boundary-size JPEGs (benchmarks/decode.py): at most 10 uint8
levels, at most 0.37 on average (median 0.20); the Lite0 Grad-CAM map moves by at most 0.037
(median 0.025; JPEG quality 92 against 90 moves it by up to 0.022), the top class stays. A crop
cut in whole reduced pixels instead moves by up to half a reduced pixel: 24 levels, 1.05 on
average. A 4032 x 3024 JPEG decodes in 22 ms instead of 171 ms. ``min_size=None`` decodes every
pixel, as before.
"""

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from gradcam.errors import UserError

MAX_PIXELS = 50_000_000  # larger images are refused (decompression bombs)
MIN_SIDE = 8
GEOMETRIES = ("crop_both", "shorter_side")
_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that turn the stored image by 90 degrees
_REDUCIBLE_MODES = {"L", "RGB", "RGBA", "LA", "CMYK"}  # Image.reduce supports these exactly


def _to_rgb(image):
    if image.mode.startswith("I;16"):  # 16-bit grey: full range is 0..65535
        values = np.asarray(image, np.float64) / 257.0
        image = Image.fromarray(values.round().clip(0, 255).astype(np.uint8), "L")
    elif image.mode == "I":  # 32-bit integer: 8- or 16-bit data, or scaled by its maximum
        values = np.asarray(image, np.float64)
        top = values.max(initial=0.0)
        scale = 1.0 if top <= 255 else 1 / 257.0 if top <= 65535 else 255.0 / top
        image = Image.fromarray((values * scale).round().clip(0, 255).astype(np.uint8), "L")
    elif image.mode == "F":  # float: [0, 1] intensities; NaN and infinities become 0
        values = np.nan_to_num(np.asarray(image, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        image = Image.fromarray((values.clip(0, 1) * 255).round().astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def _check_file(path):
    if path.is_dir():
        raise UserError(f"{path} is a directory, not an image")
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise UserError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file")


def _check_size(path, image):
    if image.width * image.height > MAX_PIXELS:
        raise UserError(
            f"{path}: {image.width}x{image.height} is larger than the "
            f"{MAX_PIXELS:,} pixel limit (decompression bomb?)"
        )
    if min(image.width, image.height) < MIN_SIDE:
        raise UserError(
            f"{path}: {image.width}x{image.height} is too small (at least {MIN_SIDE} pixels a side)"
        )


def _open(path, data=None):
    """PIL image of ``path`` (or of its bytes ``data``), header read, pixels not decoded yet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path if data is None else io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(
            f"{path}: declares more than the {MAX_PIXELS:,} pixel limit (decompression bomb?)"
        ) from None
    except UnidentifiedImageError:
        kind = _claimed_format(path, data)
        if kind:
            raise UserError(
                f"{path}: damaged image (a {kind} file whose header PIL cannot read)"
            ) from None
        raise UserError(f"{path}: not an image (or a format PIL cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: damaged image ({_reason(exc)})") from None


_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}


def _claimed_format(path, data=None):
    """Format named by the file's magic bytes, when PIL could not identify it (a damaged header)."""
    if data is None:
        with open(path, "rb") as file:
            start = file.read(8)
    else:
        start = data[:8]
    return next((kind for magic, kind in _SIGNATURES.items() if start.startswith(magic)), None)


def _reason(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def decode_min_size(geometry, size, fraction, reducing_gap=2.0):
    """Smallest upright (width, height) to decode so that preprocessing stays nearly exact.

    Both geometries of the preprocessing take a central crop of ``round(side * fraction)`` pixels
    of each side ("crop_both"), or of the shorter side, squared ("shorter_side"), and resize it to
    ``size`` x ``size``. Either way each side needs the smallest ``n`` with
    ``round(n * fraction) >= size`` (the other side's length does not enter: a reduced decode
    keeps the aspect ratio), times ``reducing_gap`` (as in PIL's ``Image.thumbnail``): with 1 the
    final resize only shrinks, and the network input differs by up to 38 levels (1.1 on average)
    with the crop placed in full-photo coordinates, ~100 cut in whole reduced pixels; with 2
    (default) by at most 10 levels, 0.37 on average (benchmarks/decode.py).

    Args:
        geometry: "crop_both" or "shorter_side".
        size: side of the square network input in pixels.
        fraction: central crop fraction in (0, 1].
        reducing_gap: how many times larger than the crop's need to decode, >= 1.

    Returns:
        (min_width, min_height), equal, for ``load_image(path, min_size=...)``.
    """
    if geometry not in GEOMETRIES:
        raise ValueError(f"unknown geometry {geometry!r}; valid: {', '.join(GEOMETRIES)}")
    if not 0.0 < fraction <= 1.0 or size < 1 or reducing_gap < 1:
        raise ValueError(
            f"need size >= 1, fraction in (0, 1] and reducing_gap >= 1, got {size}, "
            f"{fraction} and {reducing_gap}"
        )
    side = math.ceil(size / fraction)
    while side > 1 and round((side - 1) * fraction) >= size:  # Python's round, as the crop uses
        side -= 1
    side = math.ceil(side * reducing_gap)
    return side, side


def _upright_min_size(min_size):
    """``min_size`` as two ints, at least MIN_SIDE each (a reduced image must stay usable)."""
    width, height = min_size
    return max(int(width), MIN_SIDE), max(int(height), MIN_SIDE)


def _orientation(image):
    """The EXIF orientation tag (1-8; 1 when absent): 5-8 swap width and height."""
    return image.getexif().get(ExifTags.Base.Orientation, 1)


def _reduce_to(image, min_size):
    """(``image`` box-averaged by the largest integer factor that still covers ``min_size``, that
    factor); factor 1 and the image itself when no reduction applies."""
    factor = min(image.width // min_size[0], image.height // min_size[1])
    if factor < 2 or image.mode not in _REDUCIBLE_MODES:
        return image, 1
    return image.reduce(factor), factor


@dataclass(frozen=True)
class ScaledImage:
    """A decoded image and where it sits in the full one.

    Attributes:
        pixels: RGB uint8 [height, width, 3], upright.
        factor: the full image is ``factor`` times larger on each side (1: every pixel decoded);
            pixel (y, x) covers full pixels [factor * y, factor * (y + 1)) x [factor * x, ...),
            the last row and column possibly cut short.
        full_size: (width, height) of the full upright image.
    """

    pixels: np.ndarray
    factor: int
    full_size: tuple


def load_image(path, min_size=None):
    """RGB uint8 array of an image file; EXIF orientation applied, first frame of animations.

    Args:
        path: image file.
        min_size: optional (min_width, min_height) in upright orientation: the image may then be
            decoded reduced (JPEG DCT scaling by 1/2, 1/4, 1/8; other formats box-averaged by an
            integer factor), never below min_size (nor below the full size when that is smaller).
            None decodes every pixel. See ``decode_min_size``.

    Returns:
        uint8 array [height, width, 3].
    """
    return load_scaled(path, min_size).pixels


def load_scaled(path, min_size=None, data=None):
    """``load_image`` that also says by which factor the image was reduced (``ScaledImage``), so
    that a crop can be placed in the full image's coordinates (``crop_and_resize``). With
    ``data`` (the file's bytes, read from any filesystem) those are decoded in memory and
    ``path`` only names the image in messages."""
    if data is None:
        path = Path(path)
        _check_file(path)
    elif not data:
        raise UserError(f"{path}: empty file")
    with _open(path, data) as image:
        _check_size(path, image)
        try:
            frames = getattr(image, "n_frames", 1)  # scans the whole file: may hit damage
            if frames > 1:
                warnings.warn(f"{path}: {frames} frames, explaining the first only", stacklevel=3)
                image.seek(0)
            dct_scale, full_size = 1, None
            if min_size is not None:
                min_size = _upright_min_size(min_size)
                swapped = _orientation(image) in _SWAPS_SIDES
                stored_width = image.width
                full_size = image.size[::-1] if swapped else image.size
                drafted = image.draft("RGB", min_size[::-1] if swapped else min_size)  # JPEG only
                if drafted is not None:  # its box: the full stored image in drafted pixels
                    dct_scale = round(stored_width / drafted[1][2])
            image.load()
            upright = ImageOps.exif_transpose(image)
            factor = 1
            if min_size is not None:
                upright, factor = _reduce_to(upright, min_size)
            rgb = np.asarray(_to_rgb(upright), dtype=np.uint8)
        except (
            OSError,
            SyntaxError,
            ValueError,
            EOFError,
            IndexError,
            KeyError,
            TypeError,
            ZeroDivisionError,
        ) as exc:
            raise UserError(f"{path}: damaged image ({_reason(exc)})") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise UserError(f"{path}: unsupported image layout {rgb.shape}")
    return ScaledImage(rgb, dct_scale * factor, full_size or (rgb.shape[1], rgb.shape[0]))


def image_array(image, min_size=None):
    """RGB uint8 H x W x 3 array of a decoded PIL image: EXIF orientation applied, reduced by a
    whole factor while it still covers ``min_size`` (upright (width, height); None: full size),
    16-bit, grey, palette, CMYK and transparent modes converted as ``load_image`` does."""
    upright = ImageOps.exif_transpose(image)
    if min_size is not None:
        upright, _ = _reduce_to(upright, min_size)
    return np.asarray(_to_rgb(upright), dtype=np.uint8)
