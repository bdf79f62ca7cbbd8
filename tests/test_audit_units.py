"""The audit's pieces against independent computations: the clustering is scikit-learn's
SpectralClustering, the eigengap finds a planted number of groups, the priors of maps whose mass
is placed, and the shortcut test's drops, controls and transplants on a toy network whose logit is
a known linear function of one region."""

import numpy as np
import pytest
from scipy.sparse import csgraph
from sklearn.cluster import SpectralClustering
from sklearn.metrics import adjusted_rand_score, pairwise_distances

from gradcam.auditing import priors, shortcut, strategies
from gradcam.auditing.priors import map_priors
from gradcam.auditing.shortcut import (
    crop_similarity,
    fill_region,
    hot_region,
    judge,
    masked_drop,
    position_spread,
    shifted_masks,
    shortcut_test,
    transplant,
)
from gradcam.auditing.strategies import eigengap, find_strategies, normalise_maps
from gradcam.errors import UserError
from gradcam.model import Model
from nets.nets_factory import NetworkSpec
from nets.tf_compat import slim, tf


def grouped_maps(groups, per_group=40, side=8, seed=0, noise=0.3):
    """Maps [N, side, side] in ``groups`` groups: each group's evidence is a blob at its own
    place, plus non-negative noise everywhere (high-dimensional, so no group splits)."""
    rng = np.random.default_rng(seed)
    places = rng.choice(side * side, groups, replace=False)
    maps, labels = [], []
    for g, place in enumerate(places):
        for _ in range(per_group):
            m = rng.uniform(0, noise, side * side)
            m[place] += 1.0 + rng.uniform(0, 0.2)
            maps.append(m.reshape(side, side))
            labels.append(g)
    return np.array(maps), np.array(labels)


# -- clustering ---------------------------------------------------------------------------------
@pytest.mark.parametrize("clusters,seed,n", [(3, 0, 90), (4, 1, 90), (5, 2, 90), (4, 3, 1200)])
def test_clustering_is_sklearns_spectral_clustering(clusters, seed, n):
    rng = np.random.default_rng(seed)
    maps = rng.gamma(0.5, 1.0, (n, 7, 7))  # no clear groups: the partition is not obvious
    found = find_strategies(maps, k=10, n_clusters=clusters, seed=seed, embedding=False)
    solver = "arpack" if n <= strategies.ARPACK_LIMIT else "lobpcg"
    assert found.eigen_solver == solver
    reference = SpectralClustering(
        n_clusters=clusters,
        affinity="precomputed_nearest_neighbors",
        n_neighbors=10,
        random_state=seed,
        eigen_solver=solver,
    ).fit(pairwise_distances(normalise_maps(maps)))
    assert found.n_clusters == clusters
    assert adjusted_rand_score(reference.labels_, found.labels) == 1.0
    sizes = np.bincount(found.labels)
    assert list(sizes) == sorted(sizes, reverse=True)  # cluster 0 is the largest


@pytest.mark.parametrize("groups", [2, 3, 5])
def test_eigengap_finds_the_planted_number_of_groups(groups):
    maps, truth = grouped_maps(groups, seed=groups)
    found = find_strategies(maps, k=10, max_clusters=8, seed=0)
    assert found.n_clusters == groups
    assert adjusted_rand_score(truth, found.labels) == 1.0
    assert found.embedding.shape == (len(maps), 2) and np.isfinite(found.embedding).all()


def test_eigenvalues_of_the_normalised_laplacian():
    maps, _ = grouped_maps(3, per_group=250, seed=7)  # 750 maps: the sparse eigsh path
    features = normalise_maps(maps)
    affinity = strategies.neighbour_affinity(features, 10)
    dense = np.linalg.eigvalsh(csgraph.laplacian(affinity.toarray(), normed=True))[:9]
    assert len(maps) > strategies.DENSE_EIGEN_LIMIT
    np.testing.assert_allclose(strategies.laplacian_eigenvalues(affinity, 9), dense, atol=1e-6)
    small = strategies.neighbour_affinity(features[:300], 10)
    reference = np.linalg.eigvalsh(csgraph.laplacian(small.toarray(), normed=True))[:9]
    np.testing.assert_allclose(strategies.laplacian_eigenvalues(small, 9), reference, atol=1e-8)


def test_eigengap_rule():
    assert eigengap([0, 0.01, 0.02, 0.5, 0.55], 4) == (3, pytest.approx(0.48))
    assert eigengap([0, 0.6, 0.62, 0.65], 3)[0] == 1
    assert eigengap([0, 0.01, 0.02, 0.03, 0.9], 2)[0] == 1  # capped: the gap at 4 is not seen


def test_too_few_maps():
    with pytest.raises(UserError, match="at least 11"):
        find_strategies(np.ones((10, 4, 4)), k=10)


def test_same_seed_same_strategies():
    maps, _ = grouped_maps(3, seed=3)
    a, b = find_strategies(maps, seed=5), find_strategies(maps, seed=5)
    assert (a.labels == b.labels).all() and np.array_equal(a.embedding, b.embedding)


# -- priors -------------------------------------------------------------------------------------
def test_priors_of_placed_mass():
    corner = np.zeros((1, 8, 8))
    corner[0, 7, 7] = 1.0
    found = map_priors(corner)
    assert found.border_mass[0] == 1.0 and found.corner_mass["bottom_right"][0] == 1.0
    assert found.corner_mass["top_left"][0] == 0.0 and found.spread[0] == 0.0
    np.testing.assert_allclose(found.peak[0], [15 / 16, 15 / 16])
    uniform = np.full((1, 8, 8), 1 / 64)
    found = map_priors(uniform)
    assert found.border_mass[0] == pytest.approx(28 / 64)  # the outer ring of an 8 x 8 grid
    assert found.corner_mass["top_right"][0] == pytest.approx(4 / 64)
    cells = (np.arange(8) + 0.5) / 8
    expected = np.sqrt(2 * ((cells - 0.5) ** 2).mean())
    assert found.spread[0] == pytest.approx(expected)
    assert priors.BORDER_BAND == 0.125


# -- the shortcut test on a toy network ------------------------------------------------------------
SIZE = 16
REGION = (slice(2, 6), slice(9, 13))  # 4 x 4 = 16 pixels: the only input class 0 reads
WEIGHT = 0.01


def toy_network(images, num_classes, is_training=False, scope="regiontoy"):
    """logit 0 = WEIGHT * sum of all channels over REGION; logit 1 = the bias (10)."""
    with tf.variable_scope(scope):
        features = slim.conv2d(images, 3, 1, activation_fn=None, scope="conv")
        logits = slim.fully_connected(
            slim.flatten(features), num_classes, activation_fn=None, scope="logits"
        )
    return logits, {"conv": features}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    weights = np.zeros((SIZE, SIZE, 3, 2), np.float32)
    weights[REGION[0], REGION[1], :, 0] = WEIGHT
    values = {
        "conv/weights": np.eye(3, dtype=np.float32)[None, None],
        "conv/biases": np.zeros(3, np.float32),
        "logits/weights": weights.reshape(-1, 2),
        "logits/biases": np.array([0.0, 10.0], np.float32),
    }
    spec = NetworkSpec(
        name="regiontoy",
        network_fn=toy_network,
        preprocessing="raw",
        image_size=SIZE,
        num_classes=2,
        default_layer="conv",
    )
    with tf.Graph().as_default() as graph:
        toy_network(tf.placeholder(tf.float32, [None, SIZE, SIZE, 3]), 2)
        with tf.Session(graph=graph) as session:
            for var in tf.global_variables():
                var.load(values[var.op.name[len("regiontoy/") :]], session)
            path = tf.train.Saver().save(session, str(tmp_path_factory.mktemp("toy") / "t.ckpt"))
    model = Model(spec, checkpoint=path)
    yield model
    model.close()


def region_mask():
    mask = np.zeros((SIZE, SIZE), bool)
    mask[REGION] = True
    return mask


def logit0(images, mask=None):
    """The toy's logit 0 by hand (float64)."""
    values = np.asarray(images, np.float64)
    return WEIGHT * values[:, REGION[0], REGION[1], :].sum(axis=(1, 2, 3))


def test_toy_logit_is_the_known_function(toy):
    images = np.random.default_rng(0).integers(0, 256, (5, SIZE, SIZE, 3)).astype(np.uint8)
    logits = toy.predict(images)
    np.testing.assert_allclose(logits[:, 0], logit0(images), rtol=1e-5)
    np.testing.assert_allclose(logits[:, 1], 10.0)


def test_hot_region_is_the_top_area_of_the_mean_map():
    mean_map = np.zeros((4, 4))
    mean_map[0, 2] = 1.0  # cell (0, 2) of a 4 x 4 map: pixels 0..3 x 8..11 at 16 px
    mask = hot_region(mean_map, 16, area=16 / 256)
    assert mask.sum() == 16
    ys, xs = np.nonzero(mask)
    assert 0 <= ys.min() and ys.max() <= 5 and 6 <= xs.min() and xs.max() <= 13
    with pytest.raises(UserError, match="between 0 and 1"):
        hot_region(mean_map, 16, area=1.5)


def hand_drop(images, masks, fill):
    """Drop of logit 0 when ``masks`` are filled, by hand: only REGION's pixels count."""
    edited = np.array(images, np.float64)
    masks = np.broadcast_to(masks, edited.shape[:3])
    for i in range(len(edited)):
        if fill == "mean":
            colour = np.round(edited[i].reshape(-1, 3).mean(axis=0))
        edited[i][masks[i]] = colour
    return logit0(images) - logit0(edited)


def test_masking_drop_equals_the_hand_computation(toy):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, SIZE, SIZE, 3)).astype(np.uint8)
    mask = region_mask()
    drops = masked_drop(toy, images, mask, 0, fill="mean")
    np.testing.assert_allclose(drops, hand_drop(images, mask, "mean"), rtol=1e-4, atol=1e-3)
    half = np.zeros_like(mask)
    half[2:6, 9:11] = True  # half the region: half its pixels change
    np.testing.assert_allclose(
        masked_drop(toy, images, half, 0), hand_drop(images, half, "mean"), rtol=1e-4, atol=1e-3
    )
    outside = np.roll(mask, 8, axis=0)  # a region the logit does not read
    np.testing.assert_allclose(masked_drop(toy, images, outside, 0), 0.0, atol=1e-3)


def test_fill_by_blur_changes_only_the_region():
    images = np.random.default_rng(2).integers(0, 256, (2, SIZE, SIZE, 3)).astype(np.uint8)
    mask = region_mask()
    blurred = fill_region(images, mask, "blur")
    assert (blurred[:, ~mask] == images[:, ~mask]).all()
    assert (blurred[:, mask] != images[:, mask]).any()
    with pytest.raises(UserError, match="mean, blur"):
        fill_region(images, mask, "paint")


def test_random_regions_have_the_same_area_and_avoid_the_region():
    mask = region_mask()
    moved = shifted_masks(mask, 20, np.random.default_rng(0))
    assert (moved.sum(axis=(1, 2)) == mask.sum()).all()
    assert ((moved & mask).sum(axis=(1, 2)) <= 0.25 * mask.sum()).all()


def test_shortcut_test_numbers_on_the_toy(toy):
    """Members carry a bright patch in REGION (what the logit reads); the class's other images
    and the other class's images do not."""
    rng = np.random.default_rng(3)
    members = rng.integers(0, 100, (12, SIZE, SIZE, 3)).astype(np.uint8)
    pattern = np.where(np.add.outer(np.arange(4), np.arange(4)) % 2 == 0, 250, 150)
    members[:, REGION[0], REGION[1]] = pattern[..., None]  # the same patch in the same place
    others = rng.integers(0, 100, (9, SIZE, SIZE, 3)).astype(np.uint8)
    foreign = rng.integers(0, 60, (8, SIZE, SIZE, 3)).astype(np.uint8)
    mask = region_mask()
    seed = 4
    test = shortcut_test(
        toy,
        0,
        mask,
        members=members,
        member_scores=logit0(members),
        member_peaks=np.tile([0.25, 0.69], (12, 1)),
        others=others,
        other_scores=logit0(others),
        foreign=foreign,
        seed=seed,
        resamples=999,
    )
    assert test.drop == pytest.approx(hand_drop(members, mask, "mean").mean(), rel=1e-4)
    assert test.other_images_drop == pytest.approx(hand_drop(others, mask, "mean").mean(), abs=1e-2)
    # control a: the same members with the random regions the test draws first from its seed
    random_masks = shifted_masks(mask, len(members), np.random.default_rng(seed))
    assert (random_masks.sum(axis=(1, 2)) == mask.sum()).all()  # same area
    expected = hand_drop(members, random_masks, "mean").mean()
    assert test.control_drop == pytest.approx(expected, abs=1e-2)
    # transplant: a member's patch (16 pixels of 200 on average, 3 channels = logit 96) beats 10
    pasted = np.where(mask[None, ..., None], members[np.arange(8) % 12], foreign)
    assert test.transplant_flip_rate == float((logit0(pasted) > 10).mean()) == 1.0
    assert test.images == 12 and test.other_images == 9 and test.transplants == 8
    assert test.forward_passes == 2 * 12 + 9 + 8
    assert test.area == pytest.approx(16 / 256)
    assert test.p_value < 0.01 and test.drop_interval[0] <= test.drop <= test.drop_interval[1]
    assert test.position_spread == pytest.approx(0.0, abs=1e-12)
    assert test.template_similarity == pytest.approx(1.0)
    assert abs(test.template_baseline) < 0.2
    suspicious, reasons = judge(test)
    assert suspicious and len(reasons) == 4


def test_transplant_flips_only_where_the_logit_wins(toy):
    mask = region_mask()
    donors = np.zeros((2, SIZE, SIZE, 3), np.uint8)
    donors[0][mask] = 255  # 16 * 3 * 255 * 0.01 = 122 > 10
    donors[1][mask] = 10  # 4.8 < 10
    receivers = np.zeros((4, SIZE, SIZE, 3), np.uint8)
    flips = transplant(toy, donors, receivers, mask, 0)
    assert flips.tolist() == [True, False, True, False]


def test_consistency_statistics():
    rng = np.random.default_rng(5)
    mask = region_mask()
    same = np.tile(rng.integers(0, 256, (1, SIZE, SIZE, 3)), (5, 1, 1, 1)).astype(np.uint8)
    same = np.clip(same + rng.integers(0, 3, same.shape), 0, 255).astype(np.uint8)
    assert crop_similarity(same, mask) > 0.99
    noise = rng.integers(0, 256, (40, SIZE, SIZE, 3)).astype(np.uint8)
    assert abs(crop_similarity(noise, mask)) < 0.05
    flat = np.full((3, SIZE, SIZE, 3), 7, np.uint8)
    assert crop_similarity(flat, mask) == 0.0  # no contrast: uncorrelated, not NaN
    assert position_spread([[0.2, 0.2], [0.2, 0.2]]) == 0.0
    assert position_spread([[0.0, 0.0], [0.0, 0.6]]) == pytest.approx(0.3)


def test_the_rule_needs_every_part():
    base = dict(
        drop=5.0,
        drop_interval=(4.0, 6.0),
        control_drop=0.5,
        other_images_drop=0.4,
        transplant_flip_rate=0.9,
        p_value=0.001,
        p_random=0.001,
        p_other=0.001,
        images=20,
        other_images=20,
        transplants=20,
        forward_passes=80,
        area=0.1,
        fill="mean",
        position_spread=0.02,
        template_similarity=0.9,
        template_baseline=0.01,
    )
    assert judge(shortcut.ShortcutTest(**base))[0]
    for change in (
        {"p_value": 0.2},
        {"control_drop": 3.0},
        {"other_images_drop": 3.0},
        {"position_spread": 0.3},
        {"template_similarity": 0.3},
        {"template_baseline": 0.8},
    ):
        suspicious, reasons = judge(shortcut.ShortcutTest(**{**base, **change}))
        assert not suspicious and len(reasons) == 1
