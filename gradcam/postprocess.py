"""Post-processing kept apart from the raw maps: ReLU, resize, normalise, gradient collapse.

All functions take batches (N x h x w) and are pure numpy, so they are testable without TF.
"""

import numpy as np
from PIL import Image

EPSILON = 1e-7
STYLES = ("heatmap", "shading", "blur")  # how a map is drawn over its image (visualize.overlay)


def relu(maps):
    return np.maximum(maps, 0.0)


def normalize(maps, eps=EPSILON):
    """Scale each map to [0, 1] by its min and max; a constant map becomes all zeros, never NaN."""
    maps = np.asarray(maps, np.float32)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > eps, (maps - low) / np.maximum(span, eps), 0.0).astype(np.float32)


def upsample(maps, size):
    """Bilinear resize of each map to size x size, or to (H, W) (PIL, float32)."""
    return np.stack(
        [
            np.asarray(
                Image.fromarray(np.asarray(m, np.float32), mode="F").resize(
                    (size, size) if np.isscalar(size) else size[::-1], Image.BILINEAR
                )
            )
            for m in maps
        ]
    )


def cam_magnitude(lowres, size):
    """CAM-kind evidence before normalisation: ReLU, then bilinear upsample to the input size."""
    return upsample(relu(lowres), size)


def gradient_magnitude(gradients, percentile=99.0):
    """Pixel-attribution evidence before normalisation: sum of |attribution| over colour channels,
    values above the ``percentile`` clipped (a few extreme pixels otherwise wash out the rest)."""
    total = np.abs(np.asarray(gradients, np.float32)).sum(axis=-1)
    return np.minimum(total, np.percentile(total, percentile, axis=(1, 2), keepdims=True))


def magnitude(raw, kind, size):
    """The evidence a method's raw output shows, by method kind ("cam" or "pixel")."""
    return cam_magnitude(raw, size) if kind == "cam" else gradient_magnitude(raw)


def cam_map(lowres, size):
    """Grad-CAM display map: ReLU, bilinear upsample to the input size, normalise."""
    return normalize(cam_magnitude(lowres, size))


def gradient_map(gradients, percentile=99.0):
    """Pixel-attribution display map: ``gradient_magnitude`` normalised to [0, 1]."""
    return normalize(gradient_magnitude(gradients, percentile))


def normalize_jointly(maps, eps=EPSILON):
    """Scale a stack of maps to [0, 1] by their common min and max (one colour scale for all);
    a stack without signal becomes all zeros, never NaN."""
    maps = np.asarray(maps, np.float32)
    return normalize(maps.reshape(1, len(maps) * maps.shape[1], -1), eps).reshape(maps.shape)


def is_degenerate(maps, eps=EPSILON):
    """Per map: True when it carries no signal (constant), so it is not normalised into noise."""
    maps = np.asarray(maps)
    return (maps.max(axis=(1, 2)) - maps.min(axis=(1, 2))) <= eps
