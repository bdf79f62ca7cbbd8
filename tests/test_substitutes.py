"""One vocabulary for what replaces removed pixels (``gradcam.substitutes``): each fill against an
independent computation, the exact Gaussian against scipy's spatial filter, PIL's approximation
within a few levels of it, and the three users (IG baselines, occlusion/RISE fills, evaluation
substrates) reaching the same function."""

import numpy as np
import pytest
from PIL import Image, ImageFilter
from scipy import ndimage

from gradcam.errors import UserError
from gradcam.evaluation import perturbation
from gradcam.methods import path_math
from gradcam.substitutes import ALIASES, FILLS, fill_image, gaussian_blur

IMAGE = np.random.default_rng(0).uniform(0, 255, (40, 40, 3)).astype(np.float32)


def test_each_fill_is_what_it_says():
    assert FILLS == ("zero", "mean", "blur", "uniform") and ALIASES == {
        "black": "zero",
        "blurred": "blur",
    }
    np.testing.assert_array_equal(fill_image(IMAGE, "zero"), np.zeros_like(IMAGE))
    mean = fill_image(IMAGE, "mean")
    np.testing.assert_allclose(mean[7, 3], IMAGE.reshape(-1, 3).mean(axis=0), rtol=1e-5)
    assert (mean == mean[0, 0]).all()
    noise = fill_image(IMAGE, "uniform", seed=3)
    np.testing.assert_array_equal(noise, fill_image(IMAGE, "uniform", seed=3))
    assert not np.array_equal(noise, fill_image(IMAGE, "uniform", seed=4))
    assert 0 <= noise.min() and noise.max() <= 255 and noise.dtype == np.float32
    np.testing.assert_array_equal(fill_image(IMAGE, "blur"), gaussian_blur(IMAGE, 4.0))  # H / 10
    np.testing.assert_array_equal(fill_image(IMAGE, "blurred"), fill_image(IMAGE, "blur"))
    with pytest.raises(UserError, match="unknown fill 'grey'; valid fills: zero, mean"):
        fill_image(IMAGE, "grey")


def test_the_gaussian_is_exact_and_pils_is_its_approximation():
    sigma = 2.5
    exact = gaussian_blur(IMAGE, sigma)
    reference = ndimage.gaussian_filter(
        IMAGE.astype(np.float64), (sigma, sigma, 0), mode="reflect", truncate=8.0
    )
    np.testing.assert_allclose(exact, reference, atol=1e-3)
    approximate = gaussian_blur(IMAGE, sigma, exact=False)
    pil = Image.fromarray(IMAGE.astype(np.uint8)).filter(ImageFilter.GaussianBlur(sigma))
    np.testing.assert_array_equal(approximate, np.asarray(pil, np.float32))
    inner = (slice(8, -8), slice(8, -8))  # away from the borders, which PIL treats its own way
    assert np.abs(approximate[inner] - exact[inner]).max() < 6.0


def test_the_three_users_share_the_function():
    for name in ("black", "blurred", "uniform", "mean", "zero"):
        np.testing.assert_array_equal(
            path_math.make_baseline(IMAGE, name, seed=2), fill_image(IMAGE, name, seed=2)
        )
    np.testing.assert_array_equal(
        perturbation.substrate_image(IMAGE, "blur", 5.0), gaussian_blur(IMAGE, 5.0, exact=False)
    )
    np.testing.assert_array_equal(perturbation.substrate_image(IMAGE, "zero"), np.zeros_like(IMAGE))
    with pytest.raises(UserError, match="unknown baseline 'blak'"):
        path_math.make_baseline(IMAGE, "blak")
