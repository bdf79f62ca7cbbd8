"""Grad-CAM (Selvaraju et al. 2017) checked against a by-hand numpy computation on a tiny Slim-style
network with known weights, plus the pure-numpy post-processing and channel-weight helpers."""

import warnings

import numpy as np
import pytest

from gradcam import arrays, postprocess
from gradcam.methods import cam_math
from gradcam.model import Model
from nets.nets_factory import NetworkSpec
from nets.tf_compat import slim, tf

TINY = "tiny_gradcam_test_net"
SIZE, CHANNELS, HIDDEN, CLASSES = 12, 5, 6, 3
NEGATIVE_CLASS = 2  # its head weights are all negative: no evidence anywhere, the map must be zero


def tiny_net(images, num_classes, is_training=False):
    """conv 3x3, ReLU, 2x2 max pool ("features"), 1x1 conv, ReLU ("head"), GAP, linear."""
    with tf.variable_scope("tiny"):
        net = slim.conv2d(images, CHANNELS, [3, 3], scope="conv1")
        features = slim.max_pool2d(net, [2, 2], stride=2, scope="pool")
        head = slim.conv2d(features, HIDDEN, [1, 1], scope="conv2")
        logits = slim.fully_connected(
            tf.reduce_mean(head, [1, 2]), num_classes, activation_fn=None, scope="logits"
        )
    return logits, {"features": features, "head": head}


def tiny_arg_scope():
    with slim.arg_scope([slim.conv2d], padding="SAME", activation_fn=tf.nn.relu) as scope:
        return scope


def random_weights(seed=0):
    rng = np.random.default_rng(seed)
    weights = {
        "tiny/conv1/weights": rng.normal(0, 0.02, (3, 3, 3, CHANNELS)),
        "tiny/conv1/biases": rng.normal(0, 0.5, CHANNELS),
        "tiny/conv2/weights": rng.normal(0, 0.5, (1, 1, CHANNELS, HIDDEN)),
        "tiny/conv2/biases": rng.normal(0, 0.2, HIDDEN),
        "tiny/logits/weights": rng.normal(0, 1.0, (HIDDEN, CLASSES)),
        "tiny/logits/biases": rng.normal(0, 0.1, CLASSES),
    }
    weights["tiny/logits/weights"][:, NEGATIVE_CLASS] = (
        -np.abs(weights["tiny/logits/weights"][:, NEGATIVE_CLASS]) - 0.1
    )
    return {k: v.astype(np.float32) for k, v in weights.items()}


SPEC = NetworkSpec(
    name=TINY,
    network_fn=tiny_net,
    arg_scope=tiny_arg_scope,
    preprocessing="raw",
    image_size=SIZE,
    num_classes=CLASSES,
    default_layer="head",
    head_weights="tiny/logits/weights",
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(Model, weights) of the tiny net (an unregistered spec), weights saved with tf.train.Saver."""
    weights = random_weights()
    path = str(tmp_path_factory.mktemp("tiny") / "tiny.ckpt")
    with tf.Graph().as_default():
        SPEC.build(tf.placeholder(tf.float32, [None, SIZE, SIZE, 3]))
        with tf.Session() as session:
            for variable in tf.global_variables():
                variable.load(weights[variable.op.name], session)
            tf.train.Saver().save(session, path)
    model = Model(SPEC, checkpoint=path)
    yield model, weights
    model.close()


# -- the same network by hand ---------------------------------------------------------------------
def conv_same(x, kernel, bias):
    """Stride-1 SAME convolution, NHWC x HWIO."""
    kh, kw = kernel.shape[:2]
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    h, w = x.shape[1:3]
    out = sum(
        padded[:, i : i + h, j : j + w, :] @ kernel[i, j] for i in range(kh) for j in range(kw)
    )
    return out + bias


def forward(weights, images):
    """Pre-activations and activations of every layer, float64."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    conv1 = np.maximum(
        conv_same(images.astype(np.float64), w["tiny/conv1/weights"], w["tiny/conv1/biases"]), 0
    )
    n, h, wd, c = conv1.shape
    features = conv1.reshape(n, h // 2, 2, wd // 2, 2, c).max(axis=(2, 4))
    pre_head = conv_same(features, w["tiny/conv2/weights"], w["tiny/conv2/biases"])
    head = np.maximum(pre_head, 0)
    logits = head.mean(axis=(1, 2)) @ w["tiny/logits/weights"] + w["tiny/logits/biases"]
    return {"features": features, "pre_head": pre_head, "head": head, "logits": logits}


def grad_cam_by_hand(weights, images, target, layer):
    """Grad-CAM with dY/dA derived on paper: through GAP + linear, dY/dhead = W[:, t] / (h w);
    one layer lower, the 1x1 conv and its ReLU give dY/dfeatures = (mask * dY/dhead) @ W2^T."""
    net = forward(weights, images)
    target = np.broadcast_to(target, len(images))
    fc = weights["tiny/logits/weights"].astype(np.float64)[:, target].T  # [N, HIDDEN]
    h, w = net["head"].shape[1:3]
    d_head = np.broadcast_to(fc[:, None, None, :] / (h * w), net["head"].shape)
    if layer == "head":
        activations, gradients = net["head"], d_head
    else:
        w2 = weights["tiny/conv2/weights"][0, 0].astype(np.float64)  # [CHANNELS, HIDDEN]
        activations, gradients = net["features"], ((net["pre_head"] > 0) * d_head) @ w2.T
    alpha = gradients.mean(axis=(1, 2))  # [N, c]
    return (activations * alpha[:, None, None, :]).sum(-1), net["logits"]


def bilinear(maps, size):
    """Half-pixel-centred bilinear upsampling with edge clamping, written out in numpy."""
    n, h, w = maps.shape
    ys = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size) + 0.5) * w / size - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[None, :, None], (xs - x0)[None, None, :]
    top = maps[:, y0][:, :, x0] * (1 - fx) + maps[:, y0][:, :, x1] * fx
    bottom = maps[:, y1][:, :, x0] * (1 - fx) + maps[:, y1][:, :, x1] * fx
    return top * (1 - fy) + bottom * fy


def images(n=3, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, 3)).astype(np.float32)


# -- Grad-CAM through the toolkit vs by hand -------------------------------------------------------
@pytest.mark.parametrize("layer", ["head", "features"])
def test_lowres_matches_numpy(tiny, layer):
    from gradcam.explanation import explain

    model, weights = tiny
    x, target = images(), np.array([1, 0, 1])
    expected, logits = grad_cam_by_hand(weights, x, target, layer)
    result = explain(model, x, target, method="grad_cam", layer=layer)
    assert result.lowres.shape == (3, SIZE // 2, SIZE // 2)
    assert not result.degenerate.any() and np.abs(expected).max() > 1e-3  # non-trivial maps
    np.testing.assert_allclose(result.logits, logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        result.lowres, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max()
    )


def test_display_map_is_normalised_upsampled_relu(tiny):
    from gradcam.explanation import explain

    model, weights = tiny
    x, target = images(), np.array([1, 0, 1])
    lowres, _ = grad_cam_by_hand(weights, x, target, "head")
    up = bilinear(np.maximum(lowres, 0), SIZE)
    low, high = up.min(axis=(1, 2), keepdims=True), up.max(axis=(1, 2), keepdims=True)
    expected = (up - low) / (high - low)
    result = explain(model, x, target)
    assert result.map.shape == (3, SIZE, SIZE) and result.map.dtype == np.float32
    np.testing.assert_allclose(result.map, expected, atol=1e-4)
    assert not result.degenerate.any()


def test_no_evidence_gives_zero_map_not_nan(tiny):
    from gradcam.explanation import explain

    model, weights = tiny
    x = images(2)
    lowres, _ = grad_cam_by_hand(weights, x, NEGATIVE_CLASS, "head")
    assert (lowres <= 0).all()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = explain(model, x, NEGATIVE_CLASS)
    assert np.isfinite(result.map).all() and (result.map == 0).all()
    assert result.degenerate.all()
    assert any("all zero" in str(w.message) for w in caught)


def test_batching_does_not_change_results(tiny):
    from gradcam.explanation import explain

    model, _ = tiny
    x, target = images(5), np.array([1, 0, 1, 1, 0])
    whole = explain(model, x, target, batch_size=32)
    pieces = explain(model, x, target, batch_size=2)
    np.testing.assert_allclose(pieces.lowres, whole.lowres, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pieces.target, target)


# -- post-processing, pure numpy ------------------------------------------------------------------
def test_normalize_spans_zero_to_one_per_map():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(4, 5, 6)) * np.array([1, 10, 1e-3, 100])[:, None, None]
    out = arrays.normalize(maps)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.min(axis=(1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(out.max(axis=(1, 2)), 1, atol=1e-6)
    order = np.argsort(maps[1], axis=None)
    assert (np.diff(out[1].ravel()[order]) >= 0).all()  # monotone


def test_constant_maps_become_zeros_without_nan():
    maps = np.stack([np.zeros((3, 3)), np.full((3, 3), 7.0), np.eye(3)])
    out = arrays.normalize(maps)
    assert np.isfinite(out).all()
    assert (out[:2] == 0).all() and out[2].max() == 1
    np.testing.assert_array_equal(postprocess.is_degenerate(out), [True, True, False])


def test_upsample_is_bilinear():
    maps = np.random.default_rng(1).normal(size=(2, 7, 7)).astype(np.float32)
    out = arrays.upsample(maps, 224)
    assert out.shape == (2, 224, 224)
    np.testing.assert_allclose(out, bilinear(maps.astype(np.float64), 224), atol=1e-4)


def test_cam_map_rectifies_before_normalising():
    lowres = np.array([[[-5.0, 0.0], [1.0, 3.0]]])
    out = postprocess.cam_map(lowres, 2)
    np.testing.assert_allclose(out, [[[0.0, 0.0], [1 / 3, 1.0]]], atol=1e-6)


def test_evidence_reads_the_resolution_and_the_colour_axis_from_the_array():
    rng = np.random.default_rng(2)
    lowres = rng.normal(size=(2, 7, 7)).astype(np.float32)
    at_own = postprocess.evidence(lowres, "positive")
    np.testing.assert_array_equal(at_own, np.maximum(lowres, 0))  # no size: its own 7 x 7
    np.testing.assert_allclose(
        postprocess.evidence(lowres, "positive", 28), bilinear(np.maximum(lowres, 0), 28), atol=1e-5
    )
    full = rng.normal(size=(2, 28, 28)).astype(np.float32)  # input resolution: not resized
    np.testing.assert_array_equal(postprocess.evidence(full, "positive", 28), np.maximum(full, 0))
    np.testing.assert_array_equal(postprocess.evidence(full, "magnitude", 28), np.abs(full))
    pixels = rng.normal(size=(2, 28, 28, 3)).astype(np.float32)
    np.testing.assert_allclose(
        postprocess.evidence(pixels, "magnitude", 28, percentile=None),
        np.abs(pixels).sum(axis=-1),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        postprocess.evidence(pixels, "positive", 28),
        np.maximum(pixels.sum(axis=-1), 0),
        rtol=1e-6,
        atol=1e-6,
    )
    np.testing.assert_array_equal(
        postprocess.display_map(lowres, "positive", 28), postprocess.cam_map(lowres, 28)
    )
    with pytest.raises(ValueError, match="display must be"):
        postprocess.evidence(lowres, "cam")


def test_gradient_map_sums_channels_and_clips_outliers():
    grads = np.zeros((1, 10, 10, 3), np.float32)
    grads[0, :, :, 0] = np.arange(100).reshape(10, 10) / 100.0
    grads[0, :, :, 1] = -grads[0, :, :, 0]  # |.| then sum: twice channel 0
    grads[0, 9, 9] = 1e6  # one extreme pixel must not wash out the rest
    out = postprocess.gradient_map(grads, percentile=98.0)
    assert out.shape == (1, 10, 10) and out.max() == pytest.approx(1.0)
    # 98th percentile of 0, 0.02, ..., 1.96, 3e6: 1.94 + 0.02 * (0.02 step) = 1.9404
    assert out[0, 5, 0] == pytest.approx(1.0 / 1.9404, rel=1e-4)


def test_weighted_sum_starts_from_zero():
    rng = np.random.default_rng(2)
    activations, weights = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 5))
    expected = np.zeros((2, 3, 4))
    for n in range(2):
        for c in range(5):
            expected[n] += weights[n, c] * activations[n, :, :, c]
    np.testing.assert_allclose(cam_math.weighted_sum(activations, weights), expected, rtol=1e-5)
    assert (cam_math.weighted_sum(activations, np.zeros((2, 5))) == 0).all()


def test_gradcam_weights_are_pooled_gradients():
    gradients = np.random.default_rng(3).normal(size=(2, 3, 4, 5))
    expected = [[gradients[n, :, :, c].sum() / 12 for c in range(5)] for n in range(2)]
    np.testing.assert_allclose(cam_math.gradcam_weights(gradients), expected, rtol=1e-10)


def test_joint_normalisation_keeps_the_ratio_between_maps():
    weak = np.zeros((4, 4), np.float32)
    weak[1, 1] = 1.0
    out = postprocess.normalize_jointly([weak, 3 * weak, np.zeros((4, 4))])
    assert out[1].max() == 1.0 and np.isclose(out[0].max(), 1 / 3) and not out[2].any()
    assert not postprocess.normalize_jointly(np.zeros((2, 4, 4))).any()  # no signal: zeros, no NaN
