"""Pure-numpy pieces of path attributions (Integrated Gradients, Blur IG, XRAI): baselines,
quadrature rules along the straight path, and the Gaussian-blur path."""

import numpy as np

from gradcam.errors import UserError
from gradcam.substitutes import ALIASES, FILLS, fill_image, gaussian_blurs

RULES = ("riemann_left", "riemann_mid", "trapezoid")
BASELINES = (*ALIASES, *FILLS)  # IG's baselines: its names black, blurred, and every fill


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


def make_baseline(image, baseline="black", seed=0):
    """The path's start for one image: a fill of ``gradcam.substitutes`` ("black" = "zero",
    "blurred" = "blur", "uniform" noise in [0, 255] from ``seed``, "mean"), or an array."""
    image = np.asarray(image, np.float32)
    if isinstance(baseline, str):
        if baseline not in BASELINES:
            raise UserError(
                f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)} or an array"
            )
        return fill_image(image, baseline, seed=seed)
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
    -> (sigmas [steps + 1], images [steps + 1, H, W, 3]). The blur is ``gradcam.substitutes``'
    exact Gaussian, all sigmas from one DCT of the image (``gaussian_blurs``)."""
    if steps < 1 or max_sigma <= 0:
        raise UserError(f"blur_ig needs steps >= 1 and max_sigma > 0, got {steps}, {max_sigma}")
    sigmas = np.linspace(max_sigma, 0.0, steps + 1)
    return sigmas, gaussian_blurs(image, sigmas)


def completeness(attribution, score_input, score_baseline):
    """Per image: sum(attribution) - (F(x) - F(baseline)), and that gap relative to |F(x) - F(b)|."""
    total = np.asarray(attribution, np.float64).reshape(len(attribution), -1).sum(axis=1)
    change = np.asarray(score_input, np.float64) - np.asarray(score_baseline, np.float64)
    gap = total - change
    return gap, gap / np.maximum(np.abs(change), 1e-12)
