"""Integrated Gradients and Blur IG: completeness (exact on a linear net, within 1% on lite0) and
the blur path's endpoints."""

import numpy as np
import pytest

from gradcam.methods import get_method
from gradcam.methods.path_math import blur_path, path_alphas
from gradcam.substitutes import gaussian_blur

from methods_toynet import SIZE, forward, make_toy_model, toy_weights


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    weights = toy_weights(seed=5)
    model = make_toy_model(
        tmp_path_factory.mktemp("toy_linear"), weights, name="toy_linear", relu=False
    )
    yield model, weights
    model.close()


@pytest.mark.parametrize("rule", ["riemann_left", "riemann_mid", "trapezoid"])
@pytest.mark.parametrize("baseline", ["black", "blurred", "uniform"])
def test_ig_is_exact_on_a_linear_model(linear, rule, baseline):
    model, weights = linear
    images = np.random.default_rng(6).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    target = np.array([0, 2])
    result = get_method("integrated_gradients").fn(
        model, images, target, baseline=baseline, steps=3, rule=rule, batch_size=2
    )
    start = {
        "black": np.zeros_like(images),
        "blurred": np.stack([gaussian_blur(x, SIZE / 10) for x in images]),
    }
    if baseline in start:  # independent check of the total against the numpy forward pass
        logits = [
            forward(weights, x, relu_fn=lambda z: z)["logits"] for x in (images, start[baseline])
        ]
        change = logits[0] - logits[1]
        np.testing.assert_allclose(
            result.raw.sum(axis=(1, 2, 3)), change[[0, 1], target], rtol=1e-3, atol=1e-4
        )
    np.testing.assert_allclose(result.extras["completeness_gap"], 0, atol=1e-3)


def test_path_rules_weights_sum_to_one():
    for rule in ("riemann_left", "riemann_mid", "trapezoid"):
        alphas, weights = path_alphas(10, rule)
        assert np.isclose(weights.sum(), 1.0) and alphas.min() >= 0 and alphas.max() <= 1


def test_ig_completeness_on_lite0_within_one_percent(lite0, coffee_input):
    """Default (trapezoid) rule; the path crosses many ReLU6 kinks, so the gap is not monotone in
    steps (measured on this photo: trapezoid 200 -> 0.6 %, 400 -> 1.4 %; midpoint 200 -> 2.3 %)."""
    result = get_method("integrated_gradients").fn(
        lite0, coffee_input[None], [967], steps=200, batch_size=50
    )
    assert abs(result.extras["relative_completeness_gap"][0]) < 0.01


def test_blur_path_runs_from_max_blur_to_the_input():
    image = np.random.default_rng(8).uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)
    sigmas, path = blur_path(image, 6.0, 5)
    assert sigmas[0] == 6.0 and sigmas[-1] == 0 and np.all(np.diff(sigmas) < 0)
    np.testing.assert_array_equal(path[-1], image)
    np.testing.assert_allclose(path[0], gaussian_blur(image, 6.0))
    roughness = [np.abs(np.diff(p, axis=0)).mean() for p in path]
    assert np.all(np.diff(roughness) > 0)  # sharper at every step towards the input


def test_blur_ig_completeness_on_a_linear_model(linear):
    model, _ = linear
    images = np.random.default_rng(9).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    result = get_method("blur_ig").fn(model, images, [1, 3], max_sigma=4.0, steps=4)
    np.testing.assert_allclose(result.extras["completeness_gap"], 0, atol=1e-3)


@pytest.mark.parametrize("sigma", [1.0, 3.0, 7.5])
def test_dct_blur_equals_reflect_gaussian_convolution(sigma):
    """The DCT-domain blur against scipy's spatial Gaussian filter with mirror boundaries."""
    from scipy.ndimage import gaussian_filter

    image = np.random.default_rng(10).uniform(0, 255, (40, 48, 3)).astype(np.float32)
    expected = gaussian_filter(
        image.astype(np.float64), (sigma, sigma, 0), mode="reflect", truncate=8
    )
    np.testing.assert_allclose(
        gaussian_blur(image, sigma), expected, atol=0.5
    )  # of 255; sampled vs continuous kernel
    np.testing.assert_array_equal(gaussian_blur(image, 0), image)


def test_ig_baseline_can_be_an_image_file(linear, tmp_path):
    from PIL import Image

    from gradcam.errors import UserError
    from gradcam.images import load_image

    model, _ = linear
    rng = np.random.default_rng(12)
    Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3)).astype(np.uint8)).save(tmp_path / "b.png")
    images = rng.uniform(0, 255, (1, SIZE, SIZE, 3)).astype(np.float32)
    ig = get_method("integrated_gradients").fn
    from_file = ig(model, images, [1], baseline=str(tmp_path / "b.png"), steps=3)
    array = model.prepare(load_image(tmp_path / "b.png")).astype(np.float32)
    np.testing.assert_array_equal(
        from_file.raw, ig(model, images, [1], baseline=array, steps=3).raw
    )
    assert np.abs(from_file.raw).sum() > 0
    with pytest.raises(UserError, match="unknown baseline 'blak'"):
        ig(model, images, [1], baseline="blak", steps=3)
