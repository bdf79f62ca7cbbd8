"""Gradient, guided backprop, Guided Grad-CAM and SmoothGrad against numpy on the toy network."""

import numpy as np
import pytest

from gradcam import postprocess
from gradcam.errors import UserError
from gradcam.methods import get_method
from gradcam.methods.smoothgrad import average_samples, noisy_copies

from methods_toynet import SIZE, backward, forward, toy_fixtures

TARGET = np.array([1, 3])


weights, toy, images = toy_fixtures("toy_grad", 3, 4, rows=2)


def run(model, name, images, **options):
    return get_method(name).fn(model, images, TARGET, **options)


def test_gradient_matches_numpy(toy, weights, images):
    expected = backward(weights, images, TARGET)["grad_x"]
    np.testing.assert_allclose(run(toy, "gradient", images).raw, expected, rtol=1e-4, atol=1e-9)


def test_guided_backprop_rule_by_hand(toy, weights, images):
    plain = backward(weights, images, TARGET)["grad_x"]
    guided = backward(weights, images, TARGET, guided=True)["grad_x"]
    assert not np.allclose(plain, guided)  # the rule makes a difference on this net
    np.testing.assert_allclose(
        run(toy, "guided_backprop", images).raw, guided, rtol=1e-4, atol=1e-9
    )


def test_guided_grad_cam_is_guided_times_upsampled_grad_cam(toy, weights, images):
    b = forward(weights, images)["b"]
    grad_cam = np.einsum(
        "nhwc,nc->nhw", b, backward(weights, images, TARGET)["grad_b"].mean(axis=(1, 2))
    )
    guided = backward(weights, images, TARGET, guided=True)["grad_x"]
    expected = guided * postprocess.cam_map(grad_cam.astype(np.float32), SIZE)[..., None]
    np.testing.assert_allclose(
        run(toy, "guided_grad_cam", images).raw, expected, rtol=1e-3, atol=1e-9
    )


@pytest.mark.parametrize("inner", ["gradient", "guided_backprop"])
def test_smoothgrad_without_noise_equals_inner(toy, images, inner):
    plain = run(toy, inner, images)
    smooth = run(toy, "smoothgrad", images, inner=inner, samples=5, noise=0.0, batch_size=3)
    np.testing.assert_array_equal(smooth.raw, plain.raw)
    np.testing.assert_array_equal(smooth.logits, plain.logits)


def test_smoothgrad_averages_inner_over_noisy_copies(toy, weights, images):
    smooth = run(toy, "smoothgrad", images, samples=4, noise=0.1, seed=7, squared=True)
    copies = noisy_copies(images, 4, 0.1, seed=7)
    grads = backward(weights, copies, np.tile(TARGET, 4))["grad_x"]
    expected = (grads**2).reshape(4, 2, SIZE, SIZE, 3).mean(axis=0)
    np.testing.assert_allclose(smooth.raw, expected, rtol=1e-3, atol=1e-12)
    assert not np.allclose(copies[:2], copies[2:4])  # samples differ


def test_smoothgrad_noise_is_a_fraction_of_each_images_value_range():
    rng = np.random.default_rng(11)
    images = np.stack([rng.uniform(0, 255, (16, 16, 3)), rng.uniform(100, 150, (16, 16, 3))])
    ranges = images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3))
    copies = noisy_copies(images, 200, 0.2, seed=3).reshape(200, 2, 16, 16, 3)
    measured = (copies - images.astype(np.float32)[None]).std(axis=(0, 2, 3, 4))
    np.testing.assert_allclose(measured, 0.2 * ranges, rtol=0.02)


def test_average_samples_is_sample_major():
    raw = np.arange(12, dtype=np.float32).reshape(6, 2)  # 3 samples x 2 images
    np.testing.assert_array_equal(average_samples(raw, 3), [[4, 5], [6, 7]])


def test_smoothgrad_rejects_cam_inner_and_unknown_options(toy, images):
    with pytest.raises(UserError, match="pixel method"):
        run(toy, "smoothgrad", images, inner="grad_cam", samples=1)
    with pytest.raises(UserError, match="no option"):
        run(toy, "smoothgrad", images, samples=1, stepz=3)


def test_guided_rule_for_relu6_by_hand():
    """y = v . relu6(W x): the guided gradient passes only where 0 < Wx < 6 AND v > 0; the plain
    one where 0 < Wx < 6 whatever the sign of v (EfficientNet-Lite's activation)."""
    from gradcam.graph import GUIDED_OVERRIDES, guided_gradients
    from nets.tf_compat import tf

    rng = np.random.default_rng(14)
    w, v, x = rng.normal(0, 2, (8, 5)), rng.normal(0, 1, 8), rng.normal(0, 1, 5)
    pre = w @ x
    assert ((pre < 0) | (pre > 6)).any() and ((pre > 0) & (pre < 6)).any() and (v < 0).any()
    inside = (pre > 0) & (pre < 6)
    with tf.Graph().as_default() as graph, graph.gradient_override_map(GUIDED_OVERRIDES):
        xs = tf.constant(x[None])
        y = tf.reduce_sum(tf.nn.relu6(tf.matmul(xs, tf.constant(w.T))) * tf.constant(v))
        plain, guided = tf.gradients(y, xs)[0], guided_gradients(y, xs)[0]
        with tf.Session() as session:
            plain, guided = session.run([plain, guided])
    np.testing.assert_allclose(plain[0], w.T @ (v * inside), rtol=1e-10)
    np.testing.assert_allclose(guided[0], w.T @ (v * inside * (v > 0)), rtol=1e-10)
