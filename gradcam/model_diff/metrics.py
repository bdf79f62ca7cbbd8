"""How far one evidence map moved from another: numpy over two maps of one frame.

Each figure is a standard way of comparing saliency maps (the same families as the map-stability
studies of fine-tuned classifiers, e.g. arXiv 2604.08513, 2026):

- ``iou``: intersection over union of the two top-``fraction`` masks (the ``fraction`` of valid
  pixels with the largest values, ties broken by raster order so a mask has exactly that area);
  1 when the hottest regions coincide, 0 when they are disjoint.
- ``spearman``: Spearman's rank correlation of the two maps over the valid pixels (average ranks
  for ties, from a 12-bit histogram of each map: values closer than 1/4095 of the map's range
  tie); 1 for maps of the same order, 0 for unrelated ones; 0 when either map is constant.
- ``peak_shift``: distance in pixels between the two maps' maxima (the first in raster order).
- ``centroid_shift``: distance in pixels between the two maps' centres of mass (of their values,
  which are >= 0 for the display maps compared here).

``valid`` (bool H x W) restricts every figure to the pixels both maps cover (two models whose crops
of a photo differ); positions are still in the frame's own pixels.

``compare_batches`` computes all four for N pairs at once, from a histogram of each map rather than
a sort (5,000 pairs of 224 x 224 maps take seconds); ``compare_maps`` is one pair.
"""

from dataclasses import asdict, dataclass

import numpy as np

TOP_FRACTION = 0.15
LEVELS = 1 << 12


@dataclass(frozen=True, kw_only=True)
class MapChange:
    """The four figures of one pair of maps (see the module docstring)."""

    iou: float
    spearman: float
    peak_shift: float
    centroid_shift: float

    def as_dict(self) -> dict:
        return asdict(self)


def _levels(maps, valid):
    """int [N, P]: each row's valid values as 0..LEVELS-1 (its min to its max, rounded), invalid
    pixels as LEVELS; and bool [N]: rows whose valid values are all one (no ranking)."""
    low = np.where(valid, maps, np.inf).min(axis=1, keepdims=True)
    high = np.where(valid, maps, -np.inf).max(axis=1, keepdims=True)
    span = high - low
    flat = ~(span > 0)
    scale = np.where(flat, 0.0, (LEVELS - 1) / np.where(flat, 1.0, span)).astype(np.float32)
    levels = np.rint((maps - np.where(flat, 0.0, low).astype(np.float32)) * scale)
    levels = levels.astype(np.intp)
    levels[~valid] = LEVELS
    return levels, flat[:, 0]


def _histograms(levels):
    """int [N, LEVELS + 1]: each row's count of every level (the last: invalid pixels)."""
    n = len(levels)
    offset = (np.arange(n) * (LEVELS + 1))[:, None]
    return np.bincount((levels + offset).ravel(), minlength=n * (LEVELS + 1)).reshape(n, -1)


def _top_masks(levels, counts, valid, fraction):
    """bool [N, P]: each row's ``fraction`` of valid pixels (at least one) with the highest levels,
    ties at the threshold broken by raster order."""
    wanted = np.maximum(1, np.rint(fraction * valid.sum(axis=1))).astype(np.intp)
    at_least = np.cumsum(counts[:, LEVELS - 1 :: -1], axis=1)[:, ::-1]  # at or above each level
    threshold = (at_least >= wanted[:, None]).sum(axis=1) - 1
    above = np.where(
        threshold + 1 < LEVELS,
        np.take_along_axis(at_least, np.minimum(threshold + 1, LEVELS - 1)[:, None], 1)[:, 0],
        0,
    )
    masks = (levels > threshold[:, None]) & valid
    for row, (t, needed) in enumerate(zip(threshold, wanted - above)):
        masks[row, np.flatnonzero(levels[row] == t)[:needed]] = True
    return masks


def _centred_ranks(levels, counts, weight):
    """float [N, P]: each row's average ranks (ties share their mean rank) minus their mean over
    the valid pixels, zero at invalid ones."""
    average = np.cumsum(counts, axis=1) - counts + (counts + 1) / 2.0
    ranks = np.take_along_axis(average, levels, axis=1)
    mean = (ranks * weight).sum(axis=1, keepdims=True) / np.maximum(weight.sum(1, keepdims=True), 1)
    return (ranks - mean) * weight


def _rank_correlations(x, y, constant):
    """float [N]: Pearson's r of two rows of centred ranks (Spearman's rho); 0 for ``constant``
    rows (no ranking on one side)."""
    scale = np.sqrt(np.square(x).sum(axis=1) * np.square(y).sum(axis=1))
    r = (x * y).sum(axis=1) / np.where(scale > 0, scale, 1.0)
    return np.where(constant | (scale == 0), 0.0, r)


def _peaks(maps, valid, width):
    """float [N, 2]: (row, column) of each row's first maximum among valid pixels."""
    index = np.argmax(np.where(valid, maps, -np.inf), axis=1)
    return np.stack([index // width, index % width], axis=1).astype(np.float64)


def _centroids(maps, valid, shape):
    """float [N, 2] centres of mass of the valid values (NaN for rows without mass)."""
    weights = np.where(valid, maps, 0.0).astype(np.float64).reshape(-1, *shape)
    total = weights.sum(axis=(1, 2))
    rows = (weights.sum(axis=2) * np.arange(shape[0])).sum(axis=1)
    columns = (weights.sum(axis=1) * np.arange(shape[1])).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total[:, None] > 0, np.stack([rows, columns], 1) / total[:, None], np.nan)


def compare_batches(a, b, fraction: float = TOP_FRACTION, valid=None) -> dict:
    """{"iou", "spearman", "peak_shift", "centroid_shift": float [N]} from maps ``a`` to maps
    ``b`` (N x H x W each; ``valid``: None or bool N x H x W)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"two N x H x W stacks of maps needed, got {a.shape} and {b.shape}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    shape, n = a.shape[1:], len(a)
    a, b = a.reshape(n, -1), b.reshape(n, -1)
    ok = np.ones(a.shape, bool) if valid is None else np.asarray(valid, bool).reshape(n, -1)
    (la, fa), (lb, fb) = _levels(a, ok), _levels(b, ok)
    ha, hb = _histograms(la), _histograms(lb)
    weight = ok.astype(np.float64)
    ma, mb = _top_masks(la, ha, ok, fraction), _top_masks(lb, hb, ok, fraction)
    union = (ma | mb).sum(axis=1)
    iou = np.where(union > 0, (ma & mb).sum(axis=1) / np.maximum(union, 1), 1.0)
    ca, cb = _centroids(a, ok, shape), _centroids(b, ok, shape)
    gone_a, gone_b = np.isnan(ca[:, 0]), np.isnan(cb[:, 0])
    shift = np.hypot(*(np.nan_to_num(ca) - np.nan_to_num(cb)).T)
    # all evidence appeared or vanished: as far as the frame allows; none on either side: 0
    shift = np.where(gone_a != gone_b, np.hypot(*shape), np.where(gone_a & gone_b, 0.0, shift))
    return {
        "iou": iou,
        "spearman": _rank_correlations(
            _centred_ranks(la, ha, weight), _centred_ranks(lb, hb, weight), fa | fb
        ),
        "peak_shift": np.hypot(*(_peaks(a, ok, shape[1]) - _peaks(b, ok, shape[1])).T),
        "centroid_shift": shift,
    }


def compare_maps(a: np.ndarray, b: np.ndarray, fraction: float = TOP_FRACTION, valid=None):
    """``MapChange`` from map ``a`` to map ``b`` (two H x W maps of one frame)."""
    if np.shape(a) != np.shape(b) or np.ndim(a) != 2:
        raise ValueError(f"two H x W maps of one frame needed, got {np.shape(a)} and {np.shape(b)}")
    out = compare_batches(
        np.asarray(a)[None], np.asarray(b)[None], fraction, None if valid is None else valid[None]
    )
    return MapChange(**{k: float(v[0]) for k, v in out.items()})


def top_mask(values: np.ndarray, fraction: float = TOP_FRACTION, valid=None) -> np.ndarray:
    """bool mask of the ``fraction`` (of valid pixels, at least one) with the largest values;
    ties are broken by raster order, so the area is exact."""
    flat = np.asarray(values, np.float32).reshape(1, -1)
    ok = np.ones(flat.shape, bool) if valid is None else np.asarray(valid, bool).reshape(1, -1)
    levels, _ = _levels(flat, ok)
    return _top_masks(levels, _histograms(levels), ok, fraction).reshape(np.shape(values))
