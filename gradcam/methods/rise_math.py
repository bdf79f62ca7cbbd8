"""Pure-numpy pieces of RISE (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for
Explanation of Black-box Models", BMVC): random smooth masks, and the saliency they give.

Masks, as the paper builds them for an S x S input:
1. a grid of s x s cells, each 1 with probability p and 0 otherwise (independently);
2. the grid upsampled bilinearly to (s + 1) * C pixels a side, C = ceil(S / s) the cell size;
3. an S x S crop of it at a random offset (dy, dx), each uniform in {0, ..., C - 1}, so that the
   cells are not all aligned on one lattice.
We take C = ceil(S / s), as the authors' code does: for S = 224 and s = 7 it is the exact
32, and for any S it leaves (s + 1) * C >= S + C, room for every offset. Each mask pixel is a
convex combination of Bernoulli(p) cells, so E[M] = p at every pixel, whatever the offset.
An H x W input (not square) keeps the s x s grid and stretches it: cells of C_h = ceil(H / s)
by C_w = ceil(W / s) pixels, offsets dy in [0, C_h) and dx in [0, C_w); for H = W it is the
square construction above, draw for draw.

Saliency of class t at pixel l, with N masks M_i and f the model's score of class t:
    S(l) = E[f(I . M) M(l)] / E[M(l)] ~ 1 / (N p) * sum_i f(I . M_i) M_i(l),
the paper's Monte-Carlo estimate of the expected score when pixel l is kept. We divide by N p,
as the paper does, rather than by the per-pixel sum of the masks (a ratio estimator): E[M] = p
holds exactly at every pixel, so N p is the estimator's exact expected normaliser, and the map
stays a plain weighted mean of the masks (``rise_saliency``).

Settings: for its ImageNet classifiers (ResNet-50, VGG16) the paper uses s = 7 and p = 0.5 with
N = 4000 to 8000 masks per map, each mask multiplying the image (zero fill); the authors'
published notebooks use other values (N = 2000, s = 8, p = 0.5; N = 6000, s = 8, p = 0.1). Here
N, s, p, the seed and the batch size are all parameters: defaults for a 2-core CPU are the
caller's choice.
"""

import math
from collections.abc import Iterator

import numpy as np

from gradcam.arrays import frame_shape, upsample
from gradcam.errors import UserError


def cell_size(size: int, cells: int) -> int:
    """C = ceil(size / cells), the side in pixels of one grid cell before the crop."""
    return int(math.ceil(size / cells))


def cell_shape(size, cells: int) -> tuple:
    """(C_h, C_w): ``cell_size`` along each side of an input ``size`` (S, or (H, W))."""
    height, width = frame_shape(size)
    return cell_size(height, cells), cell_size(width, cells)


def check_options(count: int, size, cells: int, keep: float, batch_size: int) -> None:
    """Raise a one-line UserError for RISE options that cannot make masks (``size``: S or
    (H, W))."""
    if int(count) < 1:
        raise UserError(f"RISE needs at least 1 mask, got {count}")
    shorter = min(frame_shape(size))
    if not 1 <= int(cells) <= shorter:
        raise UserError(
            f"RISE grid cells must be between 1 and the image's shorter side {shorter}, got {cells}"
        )
    if not 0.0 < float(keep) <= 1.0:
        raise UserError(f"RISE keep probability must be in (0, 1], got {keep}")
    if int(batch_size) < 1:
        raise UserError(f"RISE batch size must be at least 1, got {batch_size}")


def upsample_and_crop(grids: np.ndarray, size, offsets: np.ndarray) -> np.ndarray:
    """Grids [n, s, s] upsampled bilinearly to (s + 1) C_h x (s + 1) C_w (``arrays.upsample``:
    half-pixel centres, edges clamped), then cropped to H x W from (dy, dx) = offsets[i].

    Args:
        grids: [n, s, s] cell values.
        size: the masks' S x S side S, or (H, W).
        offsets: [n, 2] integer offsets, dy in [0, C_h) and dx in [0, C_w).
    Returns:
        Masks [n, H, W] float32.
    """
    grids = np.asarray(grids, np.float32)
    cells = grids.shape[-1]
    height, width = frame_shape(size)
    up = upsample(grids, tuple((cells + 1) * c for c in cell_shape(size, cells)))
    return np.stack([m[dy : dy + height, dx : dx + width] for m, (dy, dx) in zip(up, offsets)])


def rise_grids(
    count: int, cells: int, keep: float, cell, seed: int = 0, batch_size: int = 100
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The random draws behind ``rise_masks``, batch by batch.

    Each mask takes s * s + 2 consecutive uniforms of one ``numpy.random.default_rng(seed)``
    stream: s * s for its cells (1 where u < keep), two for its offsets (floor(u * C_h),
    floor(u * C_w)). The draws of mask i are thus the same whatever the batch size.

    Args:
        count: N, the number of masks.
        cells: s, the grid side.
        keep: p, the probability that a cell is 1.
        cell: C, the cell size in pixels, or (C_h, C_w) (offsets are drawn in [0, C)).
        seed: the random stream's seed.
        batch_size: at most this many masks per item.
    Returns:
        An iterator of (grids [b, s, s] float32 of 0 and 1, offsets [b, 2] int).
    """
    rng = np.random.default_rng(seed)
    cell = np.asarray(frame_shape(cell))
    for start in range(0, int(count), int(batch_size)):
        u = rng.random((min(int(batch_size), int(count) - start), cells * cells + 2))
        grids = (u[:, :-2] < keep).astype(np.float32).reshape(-1, cells, cells)
        yield grids, np.minimum(np.floor(u[:, -2:] * cell).astype(int), cell - 1)


def rise_masks(
    count: int, size, cells: int = 7, keep: float = 0.5, seed: int = 0, batch_size: int = 100
) -> Iterator[np.ndarray]:
    """RISE's N random masks, generated batch by batch (memory: one batch of masks).

    Options are checked at the call (``check_options``), not at the first batch.

    Args:
        count: N, the number of masks.
        size: S, the side of a square input and of the masks, or (H, W).
        cells: s, the grid side (the paper: 7).
        keep: p, the probability that a cell is kept (the paper: 0.5).
        seed: seed of the one random stream; the same seed gives the same masks for any
            ``batch_size``.
        batch_size: at most this many masks per item.
    Returns:
        An iterator of masks [b, H, W] float32 in [0, 1], N in all.
    """
    check_options(count, size, cells, keep, batch_size)
    grids = rise_grids(count, cells, keep, cell_shape(size, cells), seed, batch_size)
    return (upsample_and_crop(g, size, offsets) for g, offsets in grids)


def score_weighted_masks(masks: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """sum_i scores[i, t] * masks[i] for each class t: one batch's share of the saliency sum.

    Args:
        masks: [b, S, S].
        scores: [b, T], the scores of the masked inputs for each of T targets.
    Returns:
        [T, S, S] float64; add the batches up and pass the total to ``rise_saliency``.
    """
    return np.tensordot(np.asarray(scores, np.float64).T, np.asarray(masks, np.float64), axes=1)


def rise_saliency(total: np.ndarray, count: int, keep: float) -> np.ndarray:
    """The paper's normalisation: total / (N p), with total = sum_i f(I . M_i) M_i.

    Args:
        total: [T, S, S] sum of ``score_weighted_masks`` over all N masks.
        count: N, the number of masks summed.
        keep: p, the probability a cell is kept (E[M] = p at every pixel).
    Returns:
        Saliency [T, S, S] float32: the expected score given that each pixel is kept.
    """
    return (np.asarray(total, np.float64) / (int(count) * float(keep))).astype(np.float32)


def centred_total(
    total: np.ndarray, mask_total: np.ndarray, score_total: np.ndarray, count: int
) -> np.ndarray:
    """sum_i (f_i - mean_i f_i) M_i from three running sums, so one pass over the masks suffices.

    With the mean score as a baseline, total / (N p) estimates S(l) - E[f]: the paper's map
    shifted by a constant per class, with less noise (the mean score times the sampling noise of
    sum_i M_i(l) cancels), and signed: positive where keeping pixel l raises the score above its
    average.

    Args:
        total: [T, S, S] sum_i f_i M_i (``score_weighted_masks`` summed over batches).
        mask_total: [S, S] sum_i M_i.
        score_total: [T] sum_i f_i.
        count: N, the number of masks summed.
    Returns:
        [T, S, S] float64, for ``rise_saliency``.
    """
    mean = np.asarray(score_total, np.float64) / int(count)
    return np.asarray(total, np.float64) - mean[:, None, None] * np.asarray(mask_total, np.float64)
