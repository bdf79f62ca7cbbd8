"""Small array helpers shared by the model, the methods and the display: batch slices, distinct
rows, the score of a class rather than another, and map arithmetic (ReLU, per-map normalisation,
bilinear upsampling) on batches N x h x w, pure numpy/PIL."""

import numpy as np
import scipy  # scipy.special loads on first use
from PIL import Image

from gradcam.errors import UserError

EPSILON = 1e-7


def frame_shape(size) -> tuple:
    """(H, W) of an input size given as S (an S x S frame) or as (H, W)."""
    if np.isscalar(size):
        return int(size), int(size)
    height, width = size
    return int(height), int(width)


def batch_slices(n, batch_size):
    """Slices of consecutive rows covering ``n`` rows, ``batch_size`` at a time."""
    if batch_size < 1:
        raise UserError(f"{{argument}} must be at least 1, got {batch_size}", "batch_size")
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def distinct_rows(rows):
    """(index of each distinct row's first occurrence, index of every row into those), in order of
    first occurrence (``np.unique(axis=0)`` would sort them): rows that repeat one image share its
    work."""
    slots, firsts, index = {}, [], []
    for i, row in enumerate(rows):
        key = row.tobytes()
        if key not in slots:
            slots[key] = len(firsts)
            firsts.append(i)
        index.append(slots[key])
    return np.asarray(firsts, np.int64), np.asarray(index, np.int64)


def probabilities_of(logits, activation="softmax") -> np.ndarray:
    """A head's probabilities of logits [..., C], float32 from float64: the softmax over the last
    axis, or each unit's sigmoid for a multi-label ("sigmoid") head."""
    z = np.asarray(logits, np.float64)
    values = (
        scipy.special.expit(z) if activation == "sigmoid" else scipy.special.softmax(z, axis=-1)
    )
    return values.astype(np.float32)


def class_scores(values, target, contrast=None) -> np.ndarray:
    """values[i, target[i]] - values[i, contrast] per row (without the second term when
    ``contrast`` is None): the score of class ``target`` rather than ``contrast``.

    Args:
        values: [N, C] per-class scores (logits or probabilities).
        target: one class index per row, or one for all rows.
        contrast: one class index for all rows, or None.

    Returns:
        [N] array in the dtype of ``values``.
    """
    values = np.asarray(values)
    rows = np.arange(len(values))
    scores = values[rows, np.broadcast_to(np.asarray(target, np.int64), rows.shape)]
    return scores if contrast is None else scores - values[:, int(contrast)]


def relu(maps):
    return np.maximum(maps, 0.0)


def normalize(maps, eps=EPSILON):
    """Scale each map to [0, 1] by its min and max; a constant map becomes all zeros, never NaN."""
    maps = np.asarray(maps, np.float32)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > eps, (maps - low) / np.maximum(span, eps), 0.0).astype(np.float32)


def upsample(maps, size):
    """Bilinear resize of each map to size x size, or to (H, W) (PIL, float32; a map of that
    size is copied)."""
    width_height = frame_shape(size)[::-1]
    return np.stack(
        [
            np.asarray(
                Image.fromarray(np.asarray(m, np.float32), mode="F").resize(
                    width_height, Image.BILINEAR
                )
            )
            for m in maps
        ]
    )
