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

The comparison grid: maps whose longer side exceeds ``GRID`` cells are compared as the averages of
f x f pixel blocks, f = ceil(longer side / ``GRID``) (4 x 4 at 224 px, a 56 x 56 grid), and the
shifts are reported in the frame's pixels (block steps times f). The maps compared here come from
network layers whose cells cover tens of pixels (7 x 7 at 224 px), so a 64-cell grid keeps what
they resolve and makes 5,000 images a few seconds; ``grid=None`` compares every pixel.

``compare_to_many`` computes all four for N maps against several other stacks at once (one pass
over the first), from a histogram of each map rather than a sort; ``compare_batches`` is one other
stack, ``compare_maps`` one pair.
"""

from dataclasses import asdict, dataclass

import numpy as np

TOP_FRACTION = 0.15
LEVELS = 1 << 12
GRID = 64


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
    pixels as LEVELS; and bool [N]: rows whose valid values are all one (no ranking).
    ``valid`` None: every pixel."""
    if valid is None:
        low, high = maps.min(axis=1, keepdims=True), maps.max(axis=1, keepdims=True)
    else:
        low = np.where(valid, maps, np.inf).min(axis=1, keepdims=True)
        high = np.where(valid, maps, -np.inf).max(axis=1, keepdims=True)
    span = high - low
    flat = ~(span > 0)
    scale = np.where(flat, 0.0, (LEVELS - 1) / np.where(flat, 1.0, span)).astype(np.float32)
    levels = np.rint((maps - np.where(flat, 0.0, low).astype(np.float32)) * scale)
    levels = levels.astype(np.intp)
    if valid is not None:
        levels[~valid] = LEVELS
    return levels, flat[:, 0]


def _histograms(levels):
    """int [N, LEVELS + 1]: each row's count of every level (the last: invalid pixels)."""
    n = len(levels)
    offset = (np.arange(n) * (LEVELS + 1))[:, None]
    return np.bincount((levels + offset).ravel(), minlength=n * (LEVELS + 1)).reshape(n, -1)


def _top_masks(levels, counts, fraction):
    """bool [N, P]: each row's ``fraction`` of valid pixels (at least one) with the highest levels,
    ties at the threshold broken by raster order."""
    wanted = np.maximum(1, np.rint(fraction * counts[:, :LEVELS].sum(axis=1))).astype(np.intp)
    at_least = np.cumsum(counts[:, LEVELS - 1 :: -1], axis=1)[:, ::-1]  # at or above each level
    threshold = (at_least >= wanted[:, None]).sum(axis=1) - 1
    above = np.where(
        threshold + 1 < LEVELS,
        np.take_along_axis(at_least, np.minimum(threshold + 1, LEVELS - 1)[:, None], 1)[:, 0],
        0,
    )
    masks = levels >= threshold[:, None]  # invalid pixels are LEVELS: never above a threshold
    masks &= levels < LEVELS
    needed = wanted - above
    partly = np.flatnonzero(needed < np.take_along_axis(counts, threshold[:, None], 1)[:, 0])
    for row in partly:  # rows whose ties at the threshold are not all needed: raster order
        ties = np.flatnonzero(levels[row] == threshold[row])
        masks[row, ties[needed[row] :]] = False
    return masks


def _centred_ranks(levels, counts):
    """float [N, P]: each row's average ranks (ties share their mean rank) minus their mean over
    the valid pixels, (V + 1) / 2 for V of them; zero at invalid ones."""
    average = np.cumsum(counts, axis=1) - counts + (counts + 1) / 2.0
    average -= (counts[:, :LEVELS].sum(axis=1, keepdims=True) + 1) / 2.0
    average[:, LEVELS] = 0.0
    return np.take_along_axis(average.astype(np.float32), levels, axis=1)


def _rank_correlations(x, y, constant):
    """float [N]: Pearson's r of two rows of centred ranks (Spearman's rho); 0 for ``constant``
    rows (no ranking on one side)."""
    scale = np.sqrt(
        np.square(x).sum(axis=1, dtype=np.float64) * np.square(y).sum(axis=1, dtype=np.float64)
    )
    r = (x * y).sum(axis=1, dtype=np.float64) / np.where(scale > 0, scale, 1.0)
    return np.where(constant | (scale == 0), 0.0, r)


def _peaks(maps, valid, width):
    """float [N, 2]: (row, column) of each row's first maximum among valid pixels."""
    index = np.argmax(maps if valid is None else np.where(valid, maps, -np.inf), axis=1)
    return np.stack([index // width, index % width], axis=1).astype(np.float64)


def _centroids(maps, valid, shape):
    """float [N, 2] centres of mass of the valid values (NaN for rows without mass)."""
    weights = (maps if valid is None else np.where(valid, maps, 0.0)).astype(np.float64)
    weights = weights.reshape(-1, *shape)
    total = weights.sum(axis=(1, 2))
    rows = (weights.sum(axis=2) * np.arange(shape[0])).sum(axis=1)
    columns = (weights.sum(axis=1) * np.arange(shape[1])).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total[:, None] > 0, np.stack([rows, columns], 1) / total[:, None], np.nan)


@dataclass(frozen=True)
class _Summary:
    """What the figures need of one stack of maps on the grid (computed once per stack)."""

    mask: np.ndarray  # top-fraction masks
    ranks: np.ndarray  # centred ranks
    constant: np.ndarray  # rows without a ranking
    peaks: np.ndarray
    centroids: np.ndarray


def _summary(maps, valid, shape, fraction) -> _Summary:
    levels, constant = _levels(maps, valid)
    counts = _histograms(levels)
    return _Summary(
        mask=_top_masks(levels, counts, fraction),
        ranks=_centred_ranks(levels, counts),
        constant=constant,
        peaks=_peaks(maps, valid, shape[1]),
        centroids=_centroids(maps, valid, shape),
    )


def _figures(sa: _Summary, sb: _Summary, factor, frame) -> dict:
    union = (sa.mask | sb.mask).sum(axis=1)
    iou = np.where(union > 0, (sa.mask & sb.mask).sum(axis=1) / np.maximum(union, 1), 1.0)
    ca, cb = sa.centroids, sb.centroids
    gone_a, gone_b = np.isnan(ca[:, 0]), np.isnan(cb[:, 0])
    shift = factor * np.hypot(*(np.nan_to_num(ca) - np.nan_to_num(cb)).T)
    # all evidence appeared or vanished: as far as the frame allows; none on either side: 0
    shift = np.where(gone_a != gone_b, np.hypot(*frame), np.where(gone_a & gone_b, 0.0, shift))
    return {
        "iou": iou,
        "spearman": _rank_correlations(sa.ranks, sb.ranks, sa.constant | sb.constant),
        "peak_shift": factor * np.hypot(*(sa.peaks - sb.peaks).T),
        "centroid_shift": shift,
    }


def block_factor(shape, grid=GRID) -> int:
    """f: the side of the pixel blocks a map of ``shape`` (H, W) is compared in (1: every pixel)."""
    return 1 if grid is None else max(1, -(-max(shape) // grid))


def _block_sums(x, factor):
    """N x R x C sums of the f x f blocks of N x Rf x Cf ``x`` (strided adds, in place)."""
    rows = x[:, 0::factor].copy()
    for i in range(1, factor):
        np.add(rows, x[:, i::factor], out=rows)
    out = rows[:, :, 0::factor].copy()
    for j in range(1, factor):
        np.add(out, rows[:, :, j::factor], out=out)
    return out


def to_grid(maps, valid, factor: int):
    """(N x ceil(H/f) x ceil(W/f) block means of the valid pixels, bool: blocks more than half
    valid) of N x H x W ``maps`` (``valid``: None or bool N x H x W; edges padded as invalid)."""
    if factor == 1:
        return maps, valid
    n, h, w = maps.shape
    rows, cols = -(-h // factor), -(-w // factor)
    if valid is None and h == rows * factor and w == cols * factor:
        return _block_sums(maps, factor) / np.float32(factor * factor), None
    ok = np.ones(maps.shape, bool) if valid is None else np.asarray(valid, bool)
    padded = np.zeros((n, rows * factor, cols * factor), np.float32)
    padded[:, :h, :w] = np.where(ok, maps, 0.0)
    count = np.zeros(padded.shape, np.float32)
    count[:, :h, :w] = ok
    inside = _block_sums(count, factor)
    return _block_sums(padded, factor) / np.maximum(inside, 1.0), inside > factor * factor / 2


def compare_to_many(a, others, fraction: float = TOP_FRACTION, grid=GRID) -> list:
    """[{"iou", "spearman", "peak_shift", "centroid_shift": float [N]}] from maps ``a`` to each
    of ``others`` [(maps b, valid: None or bool N x H x W)] (N x H x W each), on the comparison
    grid (see the module docstring; ``grid=None``: every pixel). What the figures need of ``a``
    is computed once per distinct ``valid``."""
    a = np.asarray(a, np.float32)
    if a.ndim != 3:
        raise ValueError(f"an N x H x W stack of maps needed, got {a.shape}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    frame, factor, n = a.shape[1:], block_factor(a.shape[1:], grid), len(a)
    summaries, out = {}, []
    for b, valid in others:
        b = np.asarray(b, np.float32)
        if b.shape != a.shape:
            raise ValueError(f"two N x H x W stacks of maps needed, got {a.shape} and {b.shape}")
        b, ok = to_grid(b, valid, factor)
        shape = b.shape[1:]
        ok = None if ok is None else ok.reshape(n, -1)
        key = None if valid is None else id(valid)
        if key not in summaries:
            grid_a, _ = to_grid(a, valid, factor)
            summaries[key] = _summary(grid_a.reshape(n, -1), ok, shape, fraction)
        out.append(
            _figures(summaries[key], _summary(b.reshape(n, -1), ok, shape, fraction), factor, frame)
        )
    return out


def compare_batches(a, b, fraction: float = TOP_FRACTION, valid=None, grid=GRID) -> dict:
    """{"iou", "spearman", "peak_shift", "centroid_shift": float [N]} from maps ``a`` to maps
    ``b`` (N x H x W each; ``valid``: None or bool N x H x W), on the comparison grid (see the
    module docstring; ``grid=None``: every pixel)."""
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"two N x H x W stacks of maps needed, got {np.shape(a)} and {np.shape(b)}"
        )
    return compare_to_many(a, [(b, valid)], fraction, grid)[0]


def compare_maps(
    a: np.ndarray, b: np.ndarray, fraction: float = TOP_FRACTION, valid=None, grid=GRID
):
    """``MapChange`` from map ``a`` to map ``b`` (two H x W maps of one frame)."""
    if np.shape(a) != np.shape(b) or np.ndim(a) != 2:
        raise ValueError(f"two H x W maps of one frame needed, got {np.shape(a)} and {np.shape(b)}")
    out = compare_batches(
        np.asarray(a)[None],
        np.asarray(b)[None],
        fraction,
        None if valid is None else valid[None],
        grid,
    )
    return MapChange(**{k: float(v[0]) for k, v in out.items()})


def top_mask(values: np.ndarray, fraction: float = TOP_FRACTION, valid=None) -> np.ndarray:
    """bool mask of the ``fraction`` (of valid pixels, at least one) with the largest values;
    ties are broken by raster order, so the area is exact."""
    flat = np.asarray(values, np.float32).reshape(1, -1)
    ok = np.ones(flat.shape, bool) if valid is None else np.asarray(valid, bool).reshape(1, -1)
    levels, _ = _levels(flat, ok)
    return _top_masks(levels, _histograms(levels), fraction).reshape(np.shape(values))
