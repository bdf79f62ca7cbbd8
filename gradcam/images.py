"""Loading photos safely as RGB uint8 arrays (PIL), with one clear error for anything unusable.

Every failure is a ``UserError`` naming the file: missing, unreadable, empty, not an image,
damaged, too large (decompression bombs are refused from the header, before decoding) or too
small. EXIF orientation is applied; 16-bit, grey, palette, CMYK and transparent images become
8-bit RGB (transparency composited on white); animations give their first frame with a warning.
"""
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gradcam.errors import UserError

MAX_PIXELS = 50_000_000  # larger images are refused (decompression bombs)
MIN_SIDE = 8


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
            image.mode == "P" and "transparency" in image.info):
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
        raise UserError(f"{path}: {image.width}x{image.height} is larger than the "
                        f"{MAX_PIXELS:,} pixel limit (decompression bomb?)")
    if min(image.width, image.height) < MIN_SIDE:
        raise UserError(f"{path}: {image.width}x{image.height} is too small (at least "
                        f"{MIN_SIDE} pixels a side)")


def _open(path):
    """PIL image of ``path``, header read and size checked, pixels not decoded yet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(f"{path}: declares more than the {MAX_PIXELS:,} pixel limit "
                        "(decompression bomb?)") from None
    except UnidentifiedImageError:
        kind = _claimed_format(path)
        if kind:
            raise UserError(f"{path}: damaged image (a {kind} file whose header PIL cannot "
                            "read)") from None
        raise UserError(f"{path}: not an image (or a format PIL cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: damaged image ({_reason(exc)})") from None


_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF",
               b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"BM": "BMP"}


def _claimed_format(path):
    """Format named by the file's magic bytes, when PIL could not identify it (a damaged header)."""
    with open(path, "rb") as file:
        start = file.read(8)
    return next((kind for magic, kind in _SIGNATURES.items() if start.startswith(magic)), None)


def _reason(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_image(path):
    """RGB uint8 array of an image file; EXIF orientation applied, first frame of animations."""
    path = Path(path)
    _check_file(path)
    with _open(path) as image:
        _check_size(path, image)
        try:
            frames = getattr(image, "n_frames", 1)  # scans the whole file: may hit damage
            if frames > 1:
                warnings.warn(f"{path}: {frames} frames, explaining the first only", stacklevel=2)
                image.seek(0)
            image.load()
            rgb = image_array(image)
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError,
                TypeError, ZeroDivisionError) as exc:
            raise UserError(f"{path}: damaged image ({_reason(exc)})") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise UserError(f"{path}: unsupported image layout {rgb.shape}")
    return rgb


def image_array(image):
    """RGB uint8 H x W x 3 array of a decoded PIL image: EXIF orientation applied, 16-bit, grey,
    palette, CMYK and transparent modes converted as ``load_image`` does."""
    return np.asarray(_to_rgb(ImageOps.exif_transpose(image)), dtype=np.uint8)
