"""What replaces removed pixels: one vocabulary and one function for Integrated-Gradients
baselines, occlusion and RISE fills, and the deletion/insertion substrates of the evaluation.

``FILLS``:
- "zero": black (0 in every channel);
- "mean": the image's mean colour;
- "blur": the image Gaussian-blurred (``gaussian_blur``; sigma a tenth of its height unless given);
- "uniform": uniform noise in [0, 255] drawn from ``seed``.
IG has long called two of them "black" and "blurred": ``ALIASES`` keeps those names.

``gaussian_blur`` is the one Gaussian blur: exact (mirror-boundary convolution computed in the DCT
domain), float in, float out. Its one stated exception is PIL's ``GaussianBlur`` (``exact=False``):
an approximation by three box blurs of the image rounded to uint8, kept where published numbers
depend on it: the evaluation's "blur" substrate (results/, recorded in its protocol) and the
overlay's blur style. Blur IG's path blurs one image at many sigmas (``gaussian_blurs``), the same
exact Gaussian from one forward transform. RISE's own insertion canvas (an 11 x 11 kernel with
mean-colour padding, ``gradcam.evaluation.protocols.rise_blur``) reproduces that paper's code.
"""

import numpy as np
import scipy  # scipy.fft loads on first use
from PIL import Image, ImageFilter

from gradcam.errors import UserError

FILLS = ("zero", "mean", "blur", "uniform")
ALIASES = {"black": "zero", "blurred": "blur"}


def gaussian_blurs(image, sigmas):
    """Gaussian blurs of an H x W x C image over its two spatial axes, one per sigma (0 = the image)
    -> [len(sigmas), H, W, C] float32.

    Mirror-boundary Gaussian convolution is diagonal in the DCT-II basis: each coefficient (ky, kx)
    is scaled by the Gaussian's transfer function exp(-2 pi^2 sigma^2 (f_y^2 + f_x^2)) at
    f = k / 2H, k / 2W. One forward transform serves every sigma, so a whole blur path costs one
    inverse transform per point, whatever the sigma (a spatial kernel grows with it).
    """
    image = np.asarray(image, np.float32)
    coefficients = scipy.fft.dctn(image, type=2, axes=(0, 1), norm="ortho")
    fy = (np.arange(image.shape[0]) / (2.0 * image.shape[0])) ** 2
    fx = (np.arange(image.shape[1]) / (2.0 * image.shape[1])) ** 2
    out = np.empty((len(sigmas),) + image.shape, np.float32)
    for i, sigma in enumerate(sigmas):
        if sigma <= 0:
            out[i] = image
            continue
        k = -2.0 * np.pi**2 * float(sigma) ** 2
        transfer = np.outer(np.exp(k * fy), np.exp(k * fx)).astype(np.float32)
        out[i] = scipy.fft.idctn(
            coefficients * transfer.reshape(transfer.shape + (1,) * (image.ndim - 2)),
            type=2,
            axes=(0, 1),
            norm="ortho",
        )
    return out


def gaussian_blur(image, sigma, *, exact=True):
    """An H x W x C image blurred over its two spatial axes by a Gaussian of std ``sigma`` pixels
    (0 = the image), float32. ``exact=False``: PIL's box-blur approximation of the image clipped
    and rounded to uint8 (the module docstring says where it is kept)."""
    if exact:
        return gaussian_blurs(image, [sigma])[0]
    pil = Image.fromarray(np.clip(np.asarray(image, np.float32), 0, 255).astype(np.uint8))
    return np.asarray(pil.filter(ImageFilter.GaussianBlur(sigma)), np.float32)


def fill_image(image, fill, sigma=None, seed=0, *, exact=True):
    """What stands in for an H x W x 3 image's removed pixels, float32 of its shape.

    Args:
        image: the image (0..255 values).
        fill: a name of ``FILLS`` (or of ``ALIASES``).
        sigma: the blur's std in pixels for "blur" (None: a tenth of the image's height).
        seed: the noise's seed for "uniform".
        exact: for "blur", the exact Gaussian (True) or PIL's approximation (False).

    Raises:
        UserError: an unknown fill.
    """
    image = np.asarray(image, np.float32)
    fill = ALIASES.get(fill, fill)
    if fill == "zero":
        return np.zeros_like(image)
    if fill == "mean":
        return np.broadcast_to(image.mean(axis=(0, 1)), image.shape).astype(np.float32)
    if fill == "blur":
        return gaussian_blur(image, image.shape[0] / 10.0 if sigma is None else sigma, exact=exact)
    if fill == "uniform":
        return np.random.default_rng(seed).uniform(0, 255, image.shape).astype(np.float32)
    raise UserError(f"unknown fill {fill!r}; valid fills: {', '.join(FILLS)}")
