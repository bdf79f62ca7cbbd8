"""Occlusion and XRAI find the evidence placed in a known patch of the toy network's input."""

import numpy as np
import pytest

from gradcam.methods import get_method
from gradcam.methods.occlusion import drops_to_map, grid_regions
from gradcam.methods.xrai import region_gains, segment_masks

from methods_toynet import SIZE, make_toy_model

PATCH = (slice(4, 8), slice(8, 12))


def bright_detector():
    """Class 0 fires only on bright pixels (sum of RGB above 382); class 1 is its negative."""
    return {
        "conv1/weights": np.full((1, 1, 3, 1), 1.0 / 255),
        "conv1/biases": np.array([-1.5]),
        "conv2/weights": np.ones((1, 1, 1, 1)),
        "conv2/biases": np.zeros(1),
        "logits/weights": np.array([[10.0, -10.0]]),
        "logits/biases": np.zeros(2),
    }


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    model = make_toy_model(
        tmp_path_factory.mktemp("toy_bright"), bright_detector(), name="toy_bright"
    )
    yield model
    model.close()


@pytest.fixture(scope="module")
def image():
    picture = np.full((SIZE, SIZE, 3), 30.0, np.float32)
    picture[PATCH] = 250.0
    return picture


@pytest.mark.parametrize("fill", ["mean", "zero", "blur"])
def test_occlusion_finds_the_evidence_patch(toy, image, fill):
    raw = (
        get_method("occlusion")
        .fn(toy, image[None], [0], patch=4, stride=4, fill=fill, batch_size=5)
        .raw[0]
    )
    inside = np.zeros((SIZE, SIZE), bool)
    inside[PATCH] = True
    assert raw[inside].min() > 0
    np.testing.assert_allclose(raw[~inside], 0, atol=1e-6)


def test_occlusion_with_superpixels_marks_the_patch_first(toy, image):
    raw = get_method("occlusion").fn(toy, image[None], [0], segments=6, fill="zero").raw[0]
    assert np.all(raw[PATCH] == raw.max()) and raw.max() > 0


def test_overlapping_patches_average_their_drops():
    masks = grid_regions(4, 2, 1)  # 3 x 3 patches
    assert len(masks) == 9 and np.all(masks.sum(axis=0)[1:3, 1:3] == 4)
    drops = np.arange(9, dtype=float)
    result = drops_to_map(masks, drops)
    assert result[0, 0] == 0 and result[3, 3] == 8 and np.isclose(result[1, 1], (0 + 1 + 3 + 4) / 4)


def test_xrai_covers_denser_regions_first_with_their_gain():
    attribution = np.zeros((4, 4))
    attribution[:2, :2] = 5.0
    attribution[2:, 2:] = 1.0
    masks = np.zeros((3, 4, 4), bool)
    masks[0, 2:, 2:] = True  # density 1
    masks[1, :2, :2] = True  # density 5
    masks[2] = True  # whole image, density 1.5; after the first pick, 8/12 of the rest
    gains = region_gains(attribution, masks, min_new_pixels=1)
    np.testing.assert_allclose(gains[:2, :2], 5.0)  # first pick: its own density
    np.testing.assert_allclose(gains[2:, 2:], 1.0)  # then 1 beats the whole image's rest, 4/12
    np.testing.assert_allclose(gains[masks[2] & ~masks[1] & ~masks[0]], 0.0)  # last: 0/8
    # a region adding fewer new pixels than asked is never picked: the rest takes its own mean
    np.testing.assert_allclose(
        region_gains(attribution, masks[:2], min_new_pixels=5), np.full((4, 4), attribution.mean())
    )


def test_segments_are_dilated_by_the_radius():
    """Dilating inside each segment's grown bounding box equals dilating the whole mask."""
    from scipy.ndimage import binary_dilation
    from skimage.morphology import disk

    image = np.random.default_rng(4).integers(0, 255, (40, 40, 3)).astype(np.uint8)
    image[10:25, 5:30] = 200
    plain = segment_masks(image, scales=(100, 300), min_size=10, dilation=0)
    grown = segment_masks(image, scales=(100, 300), min_size=10, dilation=3)
    assert len(plain) == len(grown) > 2
    for p, g in zip(plain, grown):
        np.testing.assert_array_equal(g, binary_dilation(p, disk(3)))


def test_xrai_puts_the_evidence_patch_on_top(toy, image):
    raw = (
        get_method("xrai")
        .fn(toy, image[None], [0], steps=4, scales=(20,), min_size=2, dilation=0, min_new_pixels=1)
        .raw[0]
    )
    assert np.all(raw[PATCH] == raw.max()) and raw.max() > raw.min()
