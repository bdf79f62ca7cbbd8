"""How far one evidence map moved from another: numpy over two maps of one frame.

Each figure is a standard way of comparing saliency maps (the same families as the map-stability
studies of fine-tuned classifiers, e.g. arXiv 2604.08513, 2026):

- ``iou``: intersection over union of the two top-``fraction`` masks (the ``fraction`` of valid
  pixels with the largest values, ties broken by raster order so a mask has exactly that area);
  1 when the hottest regions coincide, 0 when they are disjoint.
- ``spearman``: Spearman's rank correlation of the two maps over the valid pixels (scipy); 1 for
  maps of the same order, 0 for unrelated ones; 0 when either map is constant (no ranking).
- ``peak_shift``: distance in pixels between the two maps' maxima (the first in raster order).
- ``centroid_shift``: distance in pixels between the two maps' centres of mass (of their values,
  which are >= 0 for the display maps compared here).

``valid`` (bool H x W) restricts every figure to the pixels both maps cover (two models whose crops
of a photo differ); positions are still in the frame's own pixels.
"""

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
from scipy.stats import spearmanr

TOP_FRACTION = 0.15


@dataclass(frozen=True, kw_only=True)
class MapChange:
    """The four figures of one pair of maps (see the module docstring)."""

    iou: float
    spearman: float
    peak_shift: float
    centroid_shift: float

    def as_dict(self) -> dict:
        return asdict(self)


def top_mask(values: np.ndarray, fraction: float = TOP_FRACTION, valid=None) -> np.ndarray:
    """bool mask of the ``fraction`` (of valid pixels, at least one) with the largest values;
    ties are broken by raster order (a stable sort), so the area is exact."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    flat = np.asarray(values, np.float64).reshape(-1)
    ok = np.ones(flat.shape, bool) if valid is None else np.asarray(valid, bool).reshape(-1)
    index = np.flatnonzero(ok)
    count = max(1, int(round(fraction * index.size)))
    order = np.argsort(-flat[index], kind="stable")[:count]
    mask = np.zeros(flat.shape, bool)
    mask[index[order]] = True
    return mask.reshape(np.shape(values))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def peak(values: np.ndarray, valid=None) -> np.ndarray:
    """(row, column) of the maximum among valid pixels, the first in raster order."""
    masked = np.where(np.ones(np.shape(values), bool) if valid is None else valid, values, -np.inf)
    return np.array(np.unravel_index(int(np.argmax(masked)), np.shape(values)), np.float64)


def centroid(values: np.ndarray, valid=None) -> Optional[np.ndarray]:
    """(row, column) centre of mass of the valid pixels' values; None for an all-zero map."""
    weights = np.asarray(values, np.float64)
    if valid is not None:
        weights = np.where(valid, weights, 0.0)
    total = weights.sum()
    if total <= 0:
        return None
    rows, columns = np.indices(weights.shape)
    return np.array([(rows * weights).sum() / total, (columns * weights).sum() / total])


def rank_correlation(a: np.ndarray, b: np.ndarray, valid=None) -> float:
    """Spearman's rho of two maps over the valid pixels; 0.0 when either is constant there."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if valid is not None:
        x, y = x[valid], y[valid]
    x, y = x.reshape(-1), y.reshape(-1)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def compare_maps(a: np.ndarray, b: np.ndarray, fraction: float = TOP_FRACTION, valid=None):
    """``MapChange`` from map ``a`` to map ``b`` (two H x W maps of one frame)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"two H x W maps of one frame needed, got {a.shape} and {b.shape}")
    ca, cb = centroid(a, valid), centroid(b, valid)
    both_empty, one_empty = ca is None and cb is None, (ca is None) != (cb is None)
    if both_empty:
        centroid_shift = 0.0
    elif one_empty:  # all evidence appeared or vanished: as far as the frame allows
        centroid_shift = float(np.hypot(*a.shape))
    else:
        centroid_shift = float(np.hypot(*(ca - cb)))
    return MapChange(
        iou=iou(top_mask(a, fraction, valid), top_mask(b, fraction, valid)),
        spearman=rank_correlation(a, b, valid),
        peak_shift=float(np.hypot(*(peak(a, valid) - peak(b, valid)))),
        centroid_shift=centroid_shift,
    )
