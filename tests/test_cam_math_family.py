"""LayerCAM, HiResCAM, XGrad-CAM, Eigen-CAM and Ablation-CAM math (cam_math) against explicit
loops, closed forms, and the identities tying them to Grad-CAM and CAM (pure numpy, no network)."""

import numpy as np
import pytest

from gradcam.errors import UserError
from gradcam.methods import cam_math

N, H, W, C = 2, 3, 4, 5


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def random_pair(rng, positive=True):
    """Activations (non-negative, like after a ReLU, unless ``positive`` is False) and signed
    gradients, [N, H, W, C]."""
    a = rng.uniform(0, 2, (N, H, W, C)) if positive else rng.normal(size=(N, H, W, C))
    return a, rng.normal(size=(N, H, W, C))


# -- position-wise maps ----------------------------------------------------------------------------
def test_layercam_matches_loops(rng):
    a, g = random_pair(rng)
    assert (g < 0).any()  # the ReLU on the gradients has something to do
    expected = np.zeros((N, H, W))
    for n in range(N):
        for y in range(H):
            for x in range(W):
                for c in range(C):
                    if g[n, y, x, c] > 0:
                        expected[n, y, x] += g[n, y, x, c] * a[n, y, x, c]
    out = cam_math.layercam_map(a, g)
    assert out.shape == (N, H, W) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_hirescam_matches_loops(rng):
    a, g = random_pair(rng, positive=False)
    expected = np.zeros((N, H, W))
    for n in range(N):
        for y in range(H):
            for x in range(W):
                expected[n, y, x] = sum(g[n, y, x, c] * a[n, y, x, c] for c in range(C))
    out = cam_math.hirescam_map(a, g)
    assert out.shape == (N, H, W) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    assert (out < 0).any()  # raw: no ReLU yet


def test_hirescam_is_grad_cam_when_gradients_are_constant_over_positions(rng):
    a = rng.uniform(0, 2, (N, H, W, C))
    g = np.broadcast_to(rng.normal(size=(N, 1, 1, C)), a.shape)
    grad_cam = cam_math.weighted_sum(a, cam_math.gradcam_weights(g))
    np.testing.assert_allclose(cam_math.hirescam_map(a, g), grad_cam, rtol=1e-6, atol=1e-6)
    g_varying = g + rng.normal(size=a.shape)  # the identity needs constant gradients
    assert not np.allclose(cam_math.hirescam_map(a, g_varying), grad_cam, atol=1e-3)


def test_hirescam_times_positions_is_cam_for_a_gap_linear_head(rng):
    """score = sum_c fc_c mean_xy(A_c): dscore/dA = fc / (h w), and CAM = sum_c fc_c A_c."""
    a = rng.uniform(0, 2, (N, H, W, C))
    fc = rng.normal(size=(N, C))  # one target column per image
    g = np.broadcast_to(fc[:, None, None, :] / (H * W), a.shape)
    cam = np.zeros((N, H, W))
    for n in range(N):
        for c in range(C):
            cam[n] += fc[n, c] * a[n, ..., c]
    np.testing.assert_allclose(cam_math.hirescam_map(a, g) * H * W, cam, rtol=1e-6, atol=1e-6)


def test_layercam_is_hirescam_when_all_gradients_are_positive(rng):
    a, g = random_pair(rng)
    positive = np.abs(g) + 0.1
    np.testing.assert_array_equal(
        cam_math.layercam_map(a, positive), cam_math.hirescam_map(a, positive)
    )
    assert not np.allclose(cam_math.layercam_map(a, g), cam_math.hirescam_map(a, g), atol=1e-3)


# -- XGrad-CAM -------------------------------------------------------------------------------------
def test_xgradcam_weights_match_loops(rng):
    a, g = random_pair(rng)
    expected = np.zeros((N, C))
    for n in range(N):
        for c in range(C):
            num = den = 0.0
            for y in range(H):
                for x in range(W):
                    num += g[n, y, x, c] * a[n, y, x, c]
                    den += a[n, y, x, c]
            expected[n, c] = num / den
    np.testing.assert_allclose(cam_math.xgradcam_weights(a, g), expected, rtol=1e-12)


def test_xgradcam_zero_channel_gets_weight_zero(rng):
    a, g = random_pair(rng)
    a[1, ..., 3] = 0.0  # a channel the ReLU switched off everywhere
    weights = cam_math.xgradcam_weights(a, g)
    assert np.isfinite(weights).all() and weights[1, 3] == 0.0
    assert (weights[0] != 0).all() and (np.delete(weights[1], 3) != 0).all()


def test_xgradcam_weights_of_a_linear_head_are_its_weights(rng):
    """score = sum_xyc fc_c A_xyc: dscore/dA = fc_c everywhere, so w_c = fc_c exactly."""
    a = rng.uniform(0, 2, (N, H, W, C))
    fc = rng.normal(size=(N, C))
    g = np.broadcast_to(fc[:, None, None, :], a.shape)
    np.testing.assert_allclose(cam_math.xgradcam_weights(a, g), fc, rtol=1e-12)


def test_xgradcam_conserves_a_homogeneous_score(rng):
    """For a score homogeneous of degree 1 in A, sum_xy(map) = score (the paper's conservation
    axiom; by Euler, score = sum_xyc g * A). Here a position-dependent linear part plus a max
    pooling per channel, so the gradients vary over positions and Grad-CAM does not conserve."""
    a = rng.uniform(0, 2, (N, H, W, C))
    v = rng.normal(size=(H, W, C))
    fc = rng.normal(size=C)
    score = np.zeros(N)
    g = np.zeros_like(a)
    for n in range(N):
        for c in range(C):
            y, x = np.unravel_index(np.argmax(a[n, ..., c]), (H, W))
            score[n] += fc[c] * a[n, y, x, c] + (v[..., c] * a[n, ..., c]).sum()
            g[n, ..., c] = v[..., c]
            g[n, y, x, c] += fc[c]
    xgrad = cam_math.weighted_sum(a, cam_math.xgradcam_weights(a, g))
    np.testing.assert_allclose(xgrad.sum(axis=(1, 2)), score, rtol=1e-5)
    grad_cam = cam_math.weighted_sum(a, cam_math.gradcam_weights(g))
    assert not np.allclose(grad_cam.sum(axis=(1, 2)), score, rtol=1e-2)


# -- Eigen-CAM -------------------------------------------------------------------------------------
def eigencam_by_svd(a):
    """Eigen-CAM written another way: numpy's SVD of the centred positions x channels matrix
    (not an eigendecomposition), s_1 u_1 position by position, the sign by an explicit
    correlation with the mean activation over channels."""
    out = np.zeros(a.shape[:3])
    for n in range(len(a)):
        x = a[n].reshape(-1, a.shape[-1])
        x = x - x.mean(axis=0)
        u, s, _ = np.linalg.svd(x)
        projection = np.array([s[0] * u[i, 0] for i in range(len(x))]).reshape(a.shape[1:3])
        reference = a[n].mean(axis=-1)
        corr = sum(
            projection[i, j] * (reference[i, j] - reference.mean())
            for i in range(a.shape[1])
            for j in range(a.shape[2])
        )
        out[n] = projection if corr >= 0 else -projection
    return out


@pytest.mark.parametrize(
    "shape",
    [(N, H, W, C), (N, 2, 2, 7)],
    ids=["more positions than channels", "more channels than positions"],
)
def test_eigencam_matches_the_svd(rng, shape):
    a = rng.uniform(0, 2, shape)
    out = cam_math.eigencam_map(a)
    assert out.shape == shape[:3] and out.dtype == np.float32
    np.testing.assert_allclose(out, eigencam_by_svd(a), rtol=1e-5, atol=1e-6)


def test_eigencam_of_rank_one_activations_is_the_centred_spatial_factor(rng):
    """A = u v^T + b (a per-channel offset): centred, X = (u - mean u) v^T, whose projection on
    v / |v| is (u - mean u) |v|, signed to correlate with the channel mean u mean(v) + mean(b)."""
    u = rng.normal(size=(H * W))
    v = rng.uniform(0.5, 1.5, C)  # mean(v) > 0: the map follows +u
    b = rng.normal(size=C) + 3.0
    expected = ((u - u.mean()) * np.linalg.norm(v)).reshape(H, W)
    plus = np.outer(u, v) + b
    minus = np.outer(u, -v) + b  # v's sign flipped: the channel mean now follows -u
    out = cam_math.eigencam_map(np.stack([plus, minus]).reshape(2, H, W, C))
    np.testing.assert_allclose(out[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1], -expected, rtol=1e-5, atol=1e-6)


def test_orient_like_resolves_either_sign_the_same_way(rng):
    maps = rng.normal(size=(N, H, W))
    reference = rng.normal(size=(N, H, W))
    a, b = cam_math.orient_like(maps, reference), cam_math.orient_like(-maps, reference)
    np.testing.assert_array_equal(a, b)
    for n in range(N):  # the kept sign correlates non-negatively with the reference
        centred = reference[n] - reference[n].mean()
        assert (a[n] * centred).sum() >= 0
        assert np.array_equal(a[n], maps[n]) or np.array_equal(a[n], -maps[n])


def test_orient_like_without_correlation_makes_the_largest_entry_positive():
    maps = np.array([[[1.0, -3.0], [0.5, 2.0]]])
    flat = np.ones((1, 2, 2))  # a constant reference: no correlation to follow
    np.testing.assert_array_equal(cam_math.orient_like(maps, flat), -maps)
    np.testing.assert_array_equal(cam_math.orient_like(-maps, flat), -maps)


@pytest.mark.parametrize("h, w, c", [(H, W, C), (2, 2, 7)])
def test_eigencam_of_constant_activations_is_zero(rng, h, w, c):
    per_channel = np.broadcast_to(rng.uniform(0, 2, (1, 1, 1, c)) * 0.1, (1, h, w, c))
    zeros = np.zeros((1, h, w, c))
    out = cam_math.eigencam_map(np.concatenate([per_channel, zeros]))
    assert np.isfinite(out).all() and (out == 0).all()


# -- Ablation-CAM ----------------------------------------------------------------------------------
def test_ablation_weights_match_loops(rng):
    y = np.array([2.5, -1.5])  # a negative logit keeps positive weights for positive drops
    ablated = rng.normal(size=(N, C))
    expected = [[(y[n] - ablated[n, c]) / abs(y[n]) for c in range(C)] for n in range(N)]
    np.testing.assert_allclose(cam_math.ablation_weights(y, ablated), expected, rtol=1e-12)


def test_ablation_weights_with_zero_score_are_the_drops(rng):
    ablated = rng.normal(size=(1, C))
    weights = cam_math.ablation_weights(np.zeros(1), ablated)
    assert np.isfinite(weights).all()
    np.testing.assert_allclose(weights, -ablated, rtol=1e-12)


def test_ablation_cam_on_a_gap_linear_head_has_the_closed_form(rng):
    """y = bias + sum_c fc_c mean_xy(A_c): zeroing channel c removes exactly fc_c mean_xy(A_c)."""
    a = rng.uniform(0, 2, (H, W, C))
    fc, bias = rng.normal(size=C), 0.7

    def head(x):
        return bias + x.mean(axis=(-3, -2)) @ fc

    y = head(a)
    ablated = np.full(C, np.nan)
    for indices, copies in cam_math.ablated_copies(a, chunk=2):
        ablated[indices] = head(copies)
    drops = np.array([fc[c] * a[..., c].mean() for c in range(C)])
    np.testing.assert_allclose(y - ablated, drops, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        cam_math.ablation_weights(np.array([y]), ablated[None])[0],
        drops / abs(y),
        rtol=1e-10,
        atol=1e-12,
    )


def test_ablated_copies_zero_one_channel_each_in_bounded_chunks(rng):
    a = rng.uniform(0.1, 2, (H, W, C)).astype(np.float32)
    before = a.copy()
    seen = []
    for indices, copies in cam_math.ablated_copies(a, chunk=2):
        assert len(indices) <= 2 and copies.shape == (len(indices), H, W, C)
        assert copies.dtype == np.float32
        for i, k in enumerate(indices):
            for c in range(C):
                expected = np.zeros((H, W)) if c == k else a[..., c]
                np.testing.assert_array_equal(copies[i, ..., c], expected)
        seen.append(list(indices))
    assert seen == [[0, 1], [2, 3], [4]]
    np.testing.assert_array_equal(a, before)  # the stored activations are untouched
    subset = [list(i) for i, _ in cam_math.ablated_copies(a, chunk=4, channels=[4, 1])]
    assert subset == [[4, 1]]


def test_ablated_copies_refuse_an_empty_chunk_at_the_call(rng):
    with pytest.raises(UserError, match="chunk"):
        cam_math.ablated_copies(np.zeros((H, W, C)), chunk=0)
