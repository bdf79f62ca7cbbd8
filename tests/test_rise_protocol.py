"""The RISE deletion / insertion protocol (Petsiuk et al. 2018) and the default one, as data:
RISE's step rule, blur kernel and substrates, checked against independent formulas, and whole
curves on a toy score whose values are known in closed form."""

import json
import math

import numpy as np
import pytest

from gradcam.errors import UserError
from gradcam.evaluation import perturbation
from gradcam.evaluation.protocols import (
    DEFAULT,
    IMAGENET_MEAN_PIXEL,
    RISE,
    LocalizationProtocol,
    PerturbationProtocol,
    get_protocol,
    protocol_curves,
    rise_blur,
    rise_blur_kernel,
    substrate,
    with_steps,
)


def test_rise_step_rule_changes_224_pixels_per_step():
    # 224 x 224: 224 steps of 224 pixels, the same counts as 224 equal steps
    counts = perturbation.step_counts(224 * 224, None, step_pixels=224)
    assert len(counts) == 225 and counts[1] == 224 and counts[-1] == 224 * 224
    np.testing.assert_array_equal(counts, perturbation.step_counts(224 * 224, 224))
    # 100 pixels by 30: ceil(100 / 30) = 4 steps, the last one 10 pixels
    np.testing.assert_array_equal(perturbation.step_counts(100, None, 30), [0, 30, 60, 90, 100])
    # the default rule is unchanged: rounded equal steps
    np.testing.assert_array_equal(perturbation.step_counts(10, 4), [0, 2, 5, 8, 10])


def reflected_gaussian_1d(size, sigma):
    """1-D Gaussian (truncated at 4 sigma, normalised) applied to a centred unit impulse with a
    half-sample symmetric border: out[i] = sum_n g(n) [reflect(i - n) == centre]."""
    radius = int(4 * sigma + 0.5)
    n = np.arange(-radius, radius + 1)
    g = np.exp(-(n**2) / (2 * sigma**2))
    g /= g.sum()
    out = np.zeros(size)
    for i in range(size):
        for offset, weight in zip(n, g):
            m = (i - offset) % (2 * size)
            if m >= size:
                m = 2 * size - 1 - m
            out[i] += weight * (m == size // 2)
    return out


def test_rise_blur_kernel_is_the_reflected_gaussian_of_gkern_11_5():
    kernel = rise_blur_kernel()
    assert kernel.shape == (11, 11)
    k1 = reflected_gaussian_1d(11, 5.0)
    np.testing.assert_allclose(kernel, np.outer(k1, k1), atol=1e-12)
    assert kernel.sum() == pytest.approx(1.0)  # the reflecting border keeps the mass
    np.testing.assert_allclose(kernel, kernel.T)
    assert kernel.argmax() == 5 * 11 + 5


def test_rise_blur_pads_with_the_mean_colour():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3)).astype(np.float32)
    blurred = rise_blur(image)
    kernel = rise_blur_kernel()
    mean = np.asarray(IMAGENET_MEAN_PIXEL)

    def by_hand(row, col):
        """mean + sum_ij k[i, j] (x[row + i - 5, col + j - 5] - mean), outside terms = 0."""
        total = mean.copy()
        for i in range(11):
            for j in range(11):
                r, c = row + i - 5, col + j - 5
                if 0 <= r < 20 and 0 <= c < 30:
                    total += kernel[i, j] * (image[r, c] - mean)
        return total

    for row, col in ((0, 0), (10, 15), (19, 29), (3, 27)):
        np.testing.assert_allclose(blurred[row, col], by_hand(row, col), rtol=1e-5)
    # an image of the mean colour stays the mean colour, borders included
    flat = np.broadcast_to(np.asarray(IMAGENET_MEAN_PIXEL, np.float32), (12, 12, 3))
    np.testing.assert_allclose(rise_blur(flat), flat, atol=1e-3)


def test_substrates():
    image = np.full((6, 7, 3), 200.0, np.float32)
    mean = substrate(image, "imagenet_mean")
    assert mean.shape == image.shape
    np.testing.assert_allclose(mean[3, 4], IMAGENET_MEAN_PIXEL, rtol=1e-6)
    np.testing.assert_array_equal(substrate(image, "zero"), 0.0)
    with pytest.raises(ValueError):
        substrate(image, "sepia")


def fraction_unchanged(reference, seen):
    """Toy score: fraction of pixels equal (all channels) to ``reference``; batches kept."""

    def score(batch):
        seen.append(np.array(batch))
        return (batch == reference[None]).all(axis=-1).mean(axis=(1, 2))

    return score


def test_rise_curves_on_a_toy_score_follow_the_step_rule():
    # 16 x 16 = 256 pixels, 224 per step: counts 0, 224, 256 (2 steps, 3 scores). The score is
    # the fraction of pixels still equal to the original image, so deletion gives
    # 1, 32/256, 0: AUC (1 + 2 * 0.125 + 0) / 4 = 0.3125; insertion 0, 224/256, 1: AUC
    # (0 + 2 * 0.875 + 1) / 4 = 0.6875.
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (16, 16, 3)).astype(np.float32)
    saliency = rng.random((16, 16))
    seen = []
    out = protocol_curves(fraction_unchanged(image, seen), image, saliency, RISE, batch_size=2)
    np.testing.assert_allclose(out["deletion_curve"], [1.0, 0.125, 0.0])
    np.testing.assert_allclose(out["insertion_curve"], [0.0, 0.875, 1.0])
    assert out["deletion_auc"] == pytest.approx(0.3125)
    assert out["insertion_auc"] == pytest.approx(0.6875)
    deletion = np.concatenate(seen[:2])  # 3 images in batches of 2, then insertion's
    insertion = np.concatenate(seen[2:])
    np.testing.assert_allclose(
        deletion[-1], np.broadcast_to(IMAGENET_MEAN_PIXEL, image.shape), rtol=1e-6
    )
    np.testing.assert_allclose(insertion[0], rise_blur(image))
    # the 224 pixels changed first are the 224 most salient ones
    top = np.argsort(-saliency.ravel())[:224]
    changed = ~(deletion[1] == image).all(axis=-1).ravel()
    assert set(np.flatnonzero(changed)) == set(top)


def test_default_protocol_takes_32_equal_steps():
    image = np.full((8, 8, 3), 50.0, np.float32)
    out = protocol_curves(
        fraction_unchanged(image, []), image, np.arange(64.0).reshape(8, 8), DEFAULT
    )
    # 64 pixels in 32 steps of 2; deletion to black: 1 - 2k / 64
    np.testing.assert_allclose(out["deletion_curve"], 1 - np.arange(33) / 32)
    assert (with_steps(RISE, 10).steps, with_steps(RISE, 10).step_pixels) == (10, None)
    assert with_steps(RISE, 10).name == "rise-10-steps" and RISE.name == "rise"
    out = protocol_curves(
        fraction_unchanged(image, []), image, np.ones((8, 8)), with_steps(RISE, 4)
    )
    assert len(out["insertion_curve"]) == 5


def test_protocols_are_named_with_their_parameters_in_json():
    record = json.loads(json.dumps(RISE.as_dict()))
    assert record["name"] == "rise" and record["step_pixels"] == 224 and record["steps"] is None
    assert record["insertion_substrate"]["size"] == 11
    assert record["insertion_substrate"]["sigma"] == 5.0
    assert record["deletion_substrate"]["pixel"] == list(IMAGENET_MEAN_PIXEL)
    assert record["target"] == "predicted" and record["image_geometry"] == "whole"
    default = json.loads(json.dumps(DEFAULT.as_dict()))
    assert (default["name"], default["steps"], default["deletion_substrate"]["pixel"]) == (
        "default",
        32,
        [0.0, 0.0, 0.0],
    )
    assert get_protocol("rise") is RISE
    assert "valid: default, rise" in str(pytest.raises(UserError, get_protocol, "lime").value)
    with pytest.raises(ValueError):
        PerturbationProtocol("x", "whole", "zero", "blur", steps=4, step_pixels=10, target="p")
    with pytest.raises(ValueError):
        PerturbationProtocol("x", "whole", "zero", "sepia", steps=4, step_pixels=None, target="p")
    assert math.isclose(IMAGENET_MEAN_PIXEL[0], 255 * 0.485)
    # the published localisation parameters: 15% of the maximum (Grad-CAM), IoU 0.5 (ILSVRC),
    # 15 pixels (pointing game)
    loc = json.loads(json.dumps(LocalizationProtocol().as_dict()))
    assert (loc["threshold"], loc["iou_threshold"], loc["pointing_tolerance"]) == (0.15, 0.5, 15)
    assert (loc["image_geometry"], loc["connectivity"]) == ("whole", 8)
