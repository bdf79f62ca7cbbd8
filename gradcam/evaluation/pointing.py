"""Pointing game (Zhang et al. 2016/2018, "Top-down Neural Attention by Excitation Backprop"):
a map hits when its maximum lies on the annotated object, within ``tolerance`` pixels (15 in the
paper). Energy in the object (the "energy-based pointing game" of Wang et al. 2020, Score-CAM):
fraction of the map's total mass that falls inside the object.
"""

import numpy as np
from scipy import ndimage


def box_mask(shape, box):
    """Boolean H x W mask of the box (top, left, bottom, right), bottom/right exclusive."""
    mask = np.zeros(shape, bool)
    top, left, bottom, right = (int(v) for v in box)
    mask[max(top, 0) : bottom, max(left, 0) : right] = True
    return mask


def peak(saliency):
    """(row, column) of the map's maximum (first one in raster order on ties)."""
    return np.unravel_index(int(np.argmax(saliency)), np.shape(saliency))


def pointing_hit(saliency, mask, tolerance=15):
    """True when the map's maximum is within ``tolerance`` pixels of the object mask."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        raise ValueError("empty object mask")
    distance = ndimage.distance_transform_edt(~mask)
    return bool(distance[peak(saliency)] <= tolerance)


def energy_inside(saliency, mask):
    """Fraction of the (non-negative) map's mass inside the mask; 0 for an all-zero map."""
    saliency = np.maximum(np.asarray(saliency, np.float64), 0.0)
    total = saliency.sum()
    return float(saliency[np.asarray(mask, bool)].sum() / total) if total > 0 else 0.0


def pointing_game(maps, masks, tolerance=15):
    """Per map: pointing hit [N] bool and energy inside [N] float."""
    hits = np.array([pointing_hit(m, k, tolerance) for m, k in zip(maps, masks)])
    energy = np.array([energy_inside(m, k) for m, k in zip(maps, masks)])
    return {"hit": hits, "energy": energy}
