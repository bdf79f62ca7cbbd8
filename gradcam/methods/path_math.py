"""Pure-numpy pieces of path attributions (Integrated Gradients, Blur IG, XRAI): baselines,
quadrature rules along the straight path, and the Gaussian-blur path."""
import numpy as np
from scipy.ndimage import gaussian_filter

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


def blur(image, sigma):
    """Gaussian blur of an H x W x 3 image over the two spatial axes (sigma 0 = the image)."""
    image = np.asarray(image, np.float32)
    return image.copy() if sigma <= 0 else gaussian_filter(image, (sigma, sigma, 0), mode="reflect")


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
    alphas = np.asarray(alphas, np.float32)[:, None, None, None]
    return (baseline[None] + alphas * (image - baseline)[None]).astype(np.float32)


def blur_path(image, max_sigma, steps):
    """Blur IG path: images blurred with sigma from ``max_sigma`` linearly down to 0 (the image)
    -> (sigmas [steps + 1], images [steps + 1, H, W, 3])."""
    if steps < 1 or max_sigma <= 0:
        raise UserError(f"blur_ig needs steps >= 1 and max_sigma > 0, got {steps}, {max_sigma}")
    sigmas = np.linspace(max_sigma, 0.0, steps + 1)
    return sigmas, np.stack([blur(image, s) for s in sigmas])


def completeness(attribution, score_input, score_baseline):
    """Per image: sum(attribution) - (F(x) - F(baseline)), and that gap relative to |F(x) - F(b)|."""
    total = np.asarray(attribution, np.float64).reshape(len(attribution), -1).sum(axis=1)
    change = np.asarray(score_input, np.float64) - np.asarray(score_baseline, np.float64)
    gap = total - change
    return gap, gap / np.maximum(np.abs(change), 1e-12)
