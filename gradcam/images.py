"""Loading photos safely as RGB uint8 arrays (PIL), with one clear error for anything unusable."""
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gradcam.errors import UserError

MAX_PIXELS = 50_000_000  # larger images are refused (decompression bombs)
MIN_SIDE = 8


def _to_rgb(image):
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, np.float64)
        scale = 255.0 / max(values.max(), 1.0) if values.max() > 255 else 1.0
        image = Image.fromarray((values * scale).clip(0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        values = np.nan_to_num(np.asarray(image, np.float64))
        image = Image.fromarray((values.clip(0, 1) * 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def load_image(path):
    """RGB uint8 array of an image file; EXIF orientation applied, first frame of animations."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory, not an image")
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise UserError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise UserError(f"{path}: {image.width}x{image.height} is larger than the "
                                    f"{MAX_PIXELS:,} pixel limit")
                if getattr(image, "n_frames", 1) > 1:
                    warnings.warn(f"{path}: {image.n_frames} frames, explaining the first")
                image.seek(0)
                image = ImageOps.exif_transpose(image)
                rgb = np.asarray(_to_rgb(image), dtype=np.uint8)
    except UserError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(f"{path}: not a readable image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: damaged image ({str(exc).splitlines()[0] or type(exc).__name__})") from None
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise UserError(f"{path}: {rgb.shape[1]}x{rgb.shape[0]} is too small (at least "
                        f"{MIN_SIDE} pixels a side)")
    return rgb
