"""RISE masks and saliency (rise_math) against a bilinear upsampling written by hand, the laws of
the masks (E[M] = p, seeded draws), and a numpy "model" whose RISE map has a closed form."""

import numpy as np
import pytest

from gradcam.errors import UserError
from gradcam.methods import rise_math


def bilinear_matrix(n, size):
    """[size, n] weights of half-pixel-centred linear interpolation with clamped edges: output
    pixel j samples the input at (j + 0.5) n / size - 0.5."""
    matrix = np.zeros((size, n))
    for j in range(size):
        t = min(max((j + 0.5) * n / size - 0.5, 0.0), n - 1.0)
        low = int(np.floor(t))
        high = min(low + 1, n - 1)
        matrix[j, low] += 1.0 - (t - low)
        matrix[j, high] += t - low
    return matrix


def masks_by_hand(grids, size, offsets):
    """Each grid upsampled to (s + 1) * ceil(size / s) by ``bilinear_matrix``, then cropped."""
    s = grids.shape[-1]
    up = bilinear_matrix(s, (s + 1) * int(np.ceil(size / s)))
    return np.stack(
        [(up @ g @ up.T)[dy : dy + size, dx : dx + size] for g, (dy, dx) in zip(grids, offsets)]
    )


def all_masks(*args, **kwargs):
    return np.concatenate(list(rise_math.rise_masks(*args, **kwargs)))


def test_upsample_and_crop_matches_bilinear_by_hand():
    rng = np.random.default_rng(0)
    grids = (rng.random((3, 4, 4)) < 0.5).astype(np.float32)
    offsets = np.array([[0, 0], [2, 1], [1, 2]])  # size 10, s 4: C = 3, upsampled to 15
    out = rise_math.upsample_and_crop(grids, 10, offsets)
    assert out.shape == (3, 10, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out, masks_by_hand(grids, 10, offsets), atol=1e-5)


def test_masks_are_the_drawn_grids_upsampled_and_cropped():
    size, cells, keep = 20, 3, 0.4  # C = ceil(20 / 3) = 7, upsampled to 28
    draws = list(rise_math.rise_grids(50, cells, keep, cell=7, seed=3, batch_size=16))
    masks = list(rise_math.rise_masks(50, size, cells, keep, seed=3, batch_size=16))
    assert [len(m) for m in masks] == [16, 16, 16, 2]
    for (grids, offsets), batch in zip(draws, masks):
        assert set(np.unique(grids)) <= {0.0, 1.0}
        assert offsets.min() >= 0 and offsets.max() <= 6
        np.testing.assert_allclose(batch, masks_by_hand(grids, size, offsets), atol=1e-5)
    offsets = np.concatenate([o for _, o in draws])
    assert set(np.unique(offsets)) == set(range(7))  # 100 draws: every offset in [0, C) occurs


def test_masks_shape_and_range():
    masks = all_masks(10, 20, cells=4, keep=0.5, seed=1, batch_size=4)
    assert masks.shape == (10, 20, 20) and masks.dtype == np.float32
    assert masks.min() >= 0.0 and masks.max() <= 1.0 + 1e-6
    assert masks.min() == 0.0 and masks.max() == pytest.approx(1.0, abs=1e-6)  # 0/1 plateaus


def test_grid_cells_are_kept_with_probability_p():
    """N s^2 = 2000 * 49 independent Bernoulli(0.3) cells: standard error sqrt(p(1-p)/(N s^2))
    = 0.0021; we allow 4 of them."""
    grids = np.concatenate([g for g, _ in rise_math.rise_grids(2000, 7, 0.3, cell=32, seed=5)])
    tolerance = 4 * np.sqrt(0.3 * 0.7 / grids.size)
    assert abs(grids.mean() - 0.3) < tolerance


def test_mask_mean_is_close_to_p():
    """The paper's setting (S 224, s 7, p 0.5). A mask's mean is sum_k B_k m_k with B_k the cells
    and m_k the share of the crop each carries (sum m_k = 1, every m_k <= ((a + 1) / S)^2 where
    a = (s + 1) C / s is a cell's side once upsampled), so its variance is at most
    p (1 - p) max m_k and the mean of N masks has standard error <= sqrt(p(1-p) ((a+1)/S)^2 / N)
    = 0.0042 for N = 400; we allow 4 of them."""
    count, size, cells, keep = 400, 224, 7, 0.5
    side = (cells + 1) * rise_math.cell_size(size, cells) / cells
    tolerance = 4 * np.sqrt(keep * (1 - keep) * ((side + 1) / size) ** 2 / count)
    total = sum(m.sum(dtype=np.float64) for m in rise_math.rise_masks(count, size, cells, keep))
    assert abs(total / (count * size * size) - keep) < tolerance


def test_same_seed_same_masks_for_any_batch_size():
    a = all_masks(30, 16, cells=4, keep=0.5, seed=11, batch_size=7)
    b = all_masks(30, 16, cells=4, keep=0.5, seed=11, batch_size=30)
    np.testing.assert_array_equal(a, b)
    c = all_masks(30, 16, cells=4, keep=0.5, seed=12, batch_size=7)
    assert np.abs(a - c).mean() > 0.1  # another seed, other masks


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(count=0), "at least 1 mask"),
        (dict(cells=0), "grid cells"),
        (dict(cells=17), "grid cells"),
        (dict(keep=0.0), "keep probability"),
        (dict(keep=1.5), "keep probability"),
        (dict(batch_size=0), "batch size"),
    ],
)
def test_bad_options_are_refused_at_the_call(options, message):
    arguments = dict(count=4, size=16, cells=4, keep=0.5, batch_size=2)
    arguments.update(options)
    with pytest.raises(UserError, match=message):
        rise_math.rise_masks(**arguments)  # not iterated: the check is eager


def test_score_weighted_masks_match_loops():
    rng = np.random.default_rng(4)
    masks, scores = rng.random((6, 5, 5)), rng.normal(size=(6, 3))
    expected = np.zeros((3, 5, 5))
    for t in range(3):
        for i in range(6):
            expected[t] += scores[i, t] * masks[i]
    np.testing.assert_allclose(rise_math.score_weighted_masks(masks, scores), expected, rtol=1e-12)


def test_constant_score_gives_saliency_one():
    """f = 1 for every mask: S = sum_i M_i / (N p), whose expectation is 1 at every pixel since
    E[M] = p. Per pixel Var(M) <= p(1-p), so the standard error is <= sqrt(p(1-p)/N) / p = 0.0224
    for N = 2000, p = 0.5; 5 of them bound all 32 * 32 pixels (union bound: 1024 * 6e-7)."""
    count, size, keep = 2000, 32, 0.5
    total = sum(
        rise_math.score_weighted_masks(m, np.ones((len(m), 1)))
        for m in rise_math.rise_masks(count, size, cells=4, keep=keep, batch_size=500)
    )
    saliency = rise_math.rise_saliency(total, count, keep)
    assert saliency.shape == (1, size, size) and saliency.dtype == np.float32
    assert np.abs(saliency - 1.0).max() < 5 * np.sqrt(keep * (1 - keep) / count) / keep


def test_known_answer_square_region_model():
    """Model: f(I . M) = mean of the masked input over the square R = [0, 35)^2, with I = 1.

    With M = sum_k w_k B_k (B_k Bernoulli(p), bilinear weights w_k),
        S(l) = E[f M(l)] / p = p + (1 - p) mean_{m in R} sum_k w_k(l) w_k(m).
    The weights are separable, w_k = u_i(y) u_j(x), and with S = 64, s = 8, C = 8 a cell spans
    a = (s + 1) C / s = 9 pixels once upsampled: an interior cell's 1-D weights sum to exactly a
    over the pixels. At the centre l = (17, 17), every cell touching l lies inside R, for every
    offset, so sum_{m in R} sum_k w_k(l) w_k(m) = a^2 and
        S(centre) = p + (1 - p) (a / 35)^2 = 0.1 + 0.9 * 81 / 1225 = 0.15951.
    A pixel 2a = 18 rows or columns past R (row or column >= 52) shares no cell with R: S = p.
    Expected ratio centre / outside: 1 + (1 - p) / p * (a / 35)^2 = 1.5951 (p = 0.1 makes it large).
    Tolerances: 4 Monte-Carlo standard errors, measured from the N = 4000 samples themselves
    (the ratio's by the delta method, ignoring the positive covariance, which only widens it)."""
    size, cells, keep, count = 64, 8, 0.1, 4000
    image = np.ones((size, size, 3), np.float32)
    outside = np.zeros((size, size), bool)
    outside[52:], outside[:, 52:] = True, True
    total, at_centre, at_outside = 0.0, [], []
    for masks in rise_math.rise_masks(count, size, cells, keep, seed=0, batch_size=500):
        scores = (image[None] * masks[..., None])[:, :35, :35].mean(axis=(1, 2, 3))
        total = total + rise_math.score_weighted_masks(masks, scores[:, None])
        at_centre.append(scores * masks[:, 17, 17] / keep)
        at_outside.append(scores * masks[:, outside].mean(axis=1) / keep)
    saliency = rise_math.rise_saliency(total, count, keep)[0]
    at_centre, at_outside = np.concatenate(at_centre), np.concatenate(at_outside)
    se_centre, se_outside = at_centre.std() / np.sqrt(count), at_outside.std() / np.sqrt(count)

    centre, far = saliency[17, 17], saliency[outside].mean()
    expected_centre = keep + (1 - keep) * (9 / 35) ** 2
    assert abs(centre - expected_centre) < 4 * se_centre
    assert abs(far - keep) < 4 * se_outside
    ratio, expected_ratio = centre / far, expected_centre / keep
    se_ratio = ratio * np.hypot(se_centre / centre, se_outside / far)
    assert abs(ratio - expected_ratio) < 4 * se_ratio
    assert centre - far > 8 * np.hypot(se_centre, se_outside)  # clearly higher inside
