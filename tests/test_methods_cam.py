"""CAM, Grad-CAM, Grad-CAM++ and Score-CAM against closed-form numpy on the toy network."""

import numpy as np
import pytest

from gradcam import arrays
from gradcam.errors import UserError
from gradcam.methods import get_method
from gradcam.methods.cam_math import gradcam_pp_weights

from methods_toynet import SIZE, backward, forward, make_toy_model, toy_fixtures

TARGET = np.array([0, 2, 3])


weights, toy, images = toy_fixtures("toy_cam", 1, 2, rows=3)


def run(model, name, images, layer=None, **options):
    return get_method(name).fn(model, images, TARGET, layer=layer, **options)


def test_grad_cam_matches_numpy(toy, weights, images):
    g = backward(weights, images, TARGET)["grad_a"]
    assert g.std(axis=(1, 2)).max() > 0  # gradients vary over positions at conv1
    expected = np.einsum("nhwc,nc->nhw", forward(weights, images)["a"], g.mean(axis=(1, 2)))
    np.testing.assert_allclose(
        run(toy, "grad_cam", images, "conv1").raw, expected, rtol=1e-4, atol=1e-6
    )


def test_grad_cam_pp_matches_numpy(toy, weights, images):
    a = forward(weights, images)["a"]
    g = backward(weights, images, TARGET)["grad_a"]
    expected = np.zeros(a.shape[:3])
    for n in range(len(a)):  # the paper's per-position alpha, written out channel by channel
        for c in range(a.shape[-1]):
            gc, total = g[n, ..., c], a[n, ..., c].sum()
            denom = 2 * gc**2 + total * gc**3
            alpha = np.divide(gc**2, denom, out=np.zeros_like(gc), where=denom != 0)
            expected[n] += (alpha * np.maximum(gc, 0)).sum() * a[n, ..., c]
    np.testing.assert_allclose(
        run(toy, "grad_cam_pp", images, "conv1").raw, expected, rtol=1e-4, atol=1e-6
    )


def test_grad_cam_pp_weights_guard_zero_denominator():
    a = np.zeros((1, 2, 2, 1))
    g = np.zeros((1, 2, 2, 1))
    assert np.all(np.isfinite(gradcam_pp_weights(a, g)))


def test_cam_matches_numpy_and_grad_cam_up_to_positive_scale(toy, weights, images):
    b = forward(weights, images)["b"]
    expected = np.einsum("nhwc,cn->nhw", b, weights["logits/weights"][:, TARGET])
    cam = run(toy, "cam", images).raw
    np.testing.assert_allclose(cam, expected, rtol=1e-4, atol=1e-5)
    grad_cam = run(toy, "grad_cam", images).raw  # default layer conv2 feeds GAP
    np.testing.assert_allclose(grad_cam * SIZE * SIZE, cam, rtol=1e-4, atol=1e-5)


def test_cam_needs_a_linear_head_fed_by_the_layer(tmp_path, toy, weights, images):
    model = make_toy_model(tmp_path, weights, name="toy_headless", head=False)
    with pytest.raises(UserError, match="global average pooling"):
        run(model, "cam", images)
    model.close()
    with pytest.raises(UserError, match="channels"):
        run(toy, "cam", images, "conv1")  # 6 channels, the head takes 5


def test_score_cam_weights_are_probability_gains(toy, weights, images):
    def probabilities(x):
        logits = forward(weights, x)["logits"]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    b = forward(weights, images)["b"]
    black = probabilities(np.zeros((1, SIZE, SIZE, 3)))[0]
    expected = np.zeros(b.shape[:3])
    for n, t in enumerate(TARGET):
        masks = arrays.normalize(arrays.upsample(np.moveaxis(b[n], -1, 0), SIZE))
        gain = probabilities(images[n][None] * masks[..., None])[:, t] - black[t]
        expected[n] = np.einsum("hwc,c->hw", b[n], gain)
    result = run(toy, "score_cam", images, batch_size=2)
    np.testing.assert_allclose(result.raw, expected, rtol=1e-3, atol=1e-5)


def test_score_cam_max_channels_keeps_most_active(toy, weights, images):
    b = forward(weights, images)["b"]
    one = run(toy, "score_cam", images, max_channels=1).raw
    for n in range(len(images)):
        top = int(np.argmax(b[n].mean(axis=(0, 1))))
        ratio = one[n][b[n][..., top] > 0] / b[n][..., top][b[n][..., top] > 0]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)  # a multiple of that one channel
