"""Pure-numpy pieces of path attributions (Integrated Gradients, Blur IG, XRAI): baselines,
quadrature rules along the straight path, and the Gaussian-blur path."""

import numpy as np
import scipy  # scipy.fft loads on first use

from gradcam.errors import UserError

RULES = ("riemann_left", "riemann_mid", "trapezoid")
BASELINES = ("black", "blurred", "uniform")


def path_alphas(steps, rule="riemann_mid"):
    """Points alpha in [0, 1] on the path and their quadrature weights (summing to 1)."""
    if steps < 1:
        raise UserError(f"steps must be at least 1, got {steps}")
    if rule == "riemann_left":
        return np.arange(steps) / steps, np.full(steps, 1.0 / steps)
    if rule == "riemann_mid":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    if rule == "trapezoid":
        weights = np.full(steps + 1, 1.0 / steps)
        weights[[0, -1]] /= 2.0
        return np.arange(steps + 1) / steps, weights
    raise UserError(f"unknown rule {rule!r}; valid rules: {', '.join(RULES)}")


def blurs(image, sigmas):
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


def blur(image, sigma):
    """Gaussian blur of an H x W x C image over the two spatial axes (sigma 0 = the image)."""
    return blurs(image, [sigma])[0]


def make_baseline(image, baseline="black", seed=0):
    """The path's start for one image: "black", "blurred", "uniform" noise in [0, 255], or an array."""
    image = np.asarray(image, np.float32)
    if isinstance(baseline, str):
        if baseline == "black":
            return np.zeros_like(image)
        if baseline == "blurred":
            return blur(image, image.shape[0] / 10.0)
        if baseline == "uniform":
            return np.random.default_rng(seed).uniform(0, 255, image.shape).astype(np.float32)
        raise UserError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)} or an array")
    baseline = np.asarray(baseline, np.float32)
    if baseline.shape != image.shape:
        raise UserError(f"baseline shape {baseline.shape} differs from the image's {image.shape}")
    return baseline


def straight_path(image, baseline, alphas):
    """baseline + alpha * (image - baseline) for every alpha -> [len(alphas), H, W, 3]."""
    alphas = np.asarray(alphas, np.float32)
    path = (baseline[None] + alphas[:, None, None, None] * (image - baseline)[None]).astype(
        np.float32
    )
    path[alphas == 1] = (
        image  # the end is exactly x (not x up to rounding), so F(x) can be read there
    )
    return path


def blur_path(image, max_sigma, steps):
    """Blur IG path: images blurred with sigma from ``max_sigma`` linearly down to 0 (the image)
    -> (sigmas [steps + 1], images [steps + 1, H, W, 3])."""
    if steps < 1 or max_sigma <= 0:
        raise UserError(f"blur_ig needs steps >= 1 and max_sigma > 0, got {steps}, {max_sigma}")
    sigmas = np.linspace(max_sigma, 0.0, steps + 1)
    return sigmas, blurs(image, sigmas)


def completeness(attribution, score_input, score_baseline):
    """Per image: sum(attribution) - (F(x) - F(baseline)), and that gap relative to |F(x) - F(b)|."""
    total = np.asarray(attribution, np.float64).reshape(len(attribution), -1).sum(axis=1)
    change = np.asarray(score_input, np.float64) - np.asarray(score_baseline, np.float64)
    gap = total - change
    return gap, gap / np.maximum(np.abs(change), 1e-12)
