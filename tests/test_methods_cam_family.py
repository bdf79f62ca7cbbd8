"""LayerCAM, XGrad-CAM, HiResCAM, Eigen-CAM, Ablation-CAM and RISE against independent numpy on
the toy network (closed-form forward and backward) and on EfficientNet-Lite0's own activations and
gradients; ``Model.fetch_above``, which Ablation-CAM runs on."""

import numpy as np
import pytest

from gradcam.errors import UserError
from gradcam.explanation import explain, explain_many
from gradcam.methods import get_method
from gradcam.methods.rise_math import rise_masks
from gradcam.model import Model
from nets.nets_factory import NetworkSpec
from nets.tf_compat import slim, tf

from methods_toynet import SIZE, backward, forward, relu, toy_fixtures

TARGET = np.array([0, 2, 3])


weights, toy, images = toy_fixtures("toy_family", 1, 2, rows=3)


def run(model, name, images, target=TARGET, layer=None, **options):
    return get_method(name).fn(model, images, target, layer=layer, **options)


def above_conv1(weights, a):
    """Numpy logits from conv1's output A (the toy network above conv1)."""
    w = {k: np.asarray(v, np.float64) for k, v in weights.items()}
    b = relu(a @ w["conv2/weights"][0, 0] + w["conv2/biases"])
    return b.mean(axis=(1, 2)) @ w["logits/weights"] + w["logits/biases"]


# -- the four maps of the shared pass --------------------------------------------------------------
def test_layer_cam_matches_numpy(toy, weights, images):
    a, g = forward(weights, images)["a"], backward(weights, images, TARGET)["grad_a"]
    assert (g < 0).any() and (g > 0).any()
    expected = np.zeros(a.shape[:3])
    for c in range(a.shape[-1]):
        expected += np.where(g[..., c] > 0, g[..., c], 0.0) * a[..., c]
    result = run(toy, "layer_cam", images, layer="conv1")
    np.testing.assert_allclose(result.raw, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(result.lowres, result.raw)


def test_hires_cam_matches_numpy(toy, weights, images):
    a, g = forward(weights, images)["a"], backward(weights, images, TARGET)["grad_a"]
    expected = sum(g[..., c] * a[..., c] for c in range(a.shape[-1]))
    result = run(toy, "hires_cam", images, layer="conv1")
    assert (result.raw < 0).any()  # raw: before the ReLU
    np.testing.assert_allclose(result.raw, expected, rtol=1e-4, atol=1e-6)


def test_xgrad_cam_matches_numpy(toy, weights, images):
    a, g = forward(weights, images)["a"], backward(weights, images, TARGET)["grad_a"]
    expected = np.zeros(a.shape[:3])
    for n in range(len(a)):
        for c in range(a.shape[-1]):
            total = a[n, ..., c].sum()
            if total > 0:
                expected[n] += (g[n, ..., c] * a[n, ..., c]).sum() / total * a[n, ..., c]
    np.testing.assert_allclose(
        run(toy, "xgrad_cam", images, layer="conv1").raw, expected, rtol=1e-4, atol=1e-6
    )


def svd_eigencam(a):
    """First principal component of the centred positions x channels matrix (numpy SVD),
    signed to correlate positively with the mean activation over channels."""
    out = np.zeros(a.shape[:3])
    for n in range(len(a)):
        x = a[n].reshape(-1, a.shape[-1])
        u, s, _ = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
        projection = (s[0] * u[:, 0]).reshape(a.shape[1:3])
        mean = a[n].mean(axis=-1)
        out[n] = projection if (projection * (mean - mean.mean())).sum() >= 0 else -projection
    return out


def test_eigen_cam_matches_numpy_and_ignores_the_target(toy, weights, images):
    a = forward(weights, images)["a"]
    first = run(toy, "eigen_cam", images, layer="conv1")
    np.testing.assert_allclose(first.raw, svd_eigencam(a), rtol=1e-4, atol=1e-4)
    other = run(toy, "eigen_cam", images, target=np.array([1, 1, 1]), layer="conv1")
    np.testing.assert_array_equal(first.raw, other.raw)


# -- Ablation-CAM ----------------------------------------------------------------------------------
def test_ablation_cam_on_the_gap_linear_head_has_its_closed_form(toy, weights, images):
    """At conv2 (GAP + linear above it) zeroing channel k lowers logit t by W[k, t] mean(B_k)."""
    f = forward(weights, images)
    b, logits, w = f["b"], f["logits"], weights["logits/weights"]
    expected = np.zeros(b.shape[:3])
    for n, t in enumerate(TARGET):
        y = logits[n, t]
        for k in range(b.shape[-1]):
            y_k = y - w[k, t] * b[n, ..., k].mean()
            expected[n] += (y - y_k) / abs(y) * b[n, ..., k]
    result = run(toy, "ablation_cam", images)
    np.testing.assert_allclose(result.raw, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(result.lowres, result.raw)


def test_ablation_cam_below_the_head_matches_numpy_ablations(toy, weights, images):
    a, logits = forward(weights, images)["a"], forward(weights, images)["logits"]
    expected = np.zeros(a.shape[:3])
    for n, t in enumerate(TARGET):
        y = logits[n, t]
        for k in range(a.shape[-1]):
            ablated = a[n : n + 1].copy()
            ablated[..., k] = 0
            expected[n] += (y - above_conv1(weights, ablated)[0, t]) / abs(y) * a[n, ..., k]
    result = run(toy, "ablation_cam", images, layer="conv1", batch_size=4)  # chunks of 4 of 6
    np.testing.assert_allclose(result.raw, expected, rtol=1e-4, atol=1e-5)


def test_ablation_cam_max_channels_ablates_the_most_active(toy, weights, images):
    b = forward(weights, images)["b"]
    full = run(toy, "ablation_cam", images).raw
    two = run(toy, "ablation_cam", images, max_channels=2).raw
    for n, t in enumerate(TARGET):
        kept = np.argsort(-b[n].mean(axis=(0, 1)))[:2]
        w = weights["logits/weights"][:, t] * b[n].mean(axis=(0, 1))  # drop of each channel
        y = forward(weights, images[n : n + 1])["logits"][0, t]
        expected = sum(w[k] / abs(y) * b[n, ..., k] for k in kept)
        np.testing.assert_allclose(two[n], expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(two, full)
    with pytest.raises(UserError, match="max_channels"):
        run(toy, "ablation_cam", images, max_channels=0)


def test_several_targets_of_one_image_share_the_ablated_copies(toy, images):
    rows = np.repeat(images[:1], 3, axis=0)
    together = run(toy, "ablation_cam", rows, target=np.array([0, 1, 2]))
    for i in range(3):
        alone = run(toy, "ablation_cam", images[:1], target=np.array([i]))
        np.testing.assert_allclose(together.raw[i], alone.raw[0], rtol=1e-5, atol=1e-6)


# -- fetch_above -----------------------------------------------------------------------------------
def test_fetch_above_feeds_the_layer(toy, weights, images):
    a = forward(weights, images)["a"]
    edited = a.copy()
    edited[..., 2] = 0
    out = toy.fetch_above(edited, TARGET, ["logits", "score"], "conv1", batch_size=2)
    expected = above_conv1(weights, edited)
    np.testing.assert_allclose(out["logits"], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out["score"], expected[np.arange(3), TARGET], rtol=1e-4, atol=1e-4)
    top = toy.fetch_above(edited, None, ["score"], "conv1")["score"]  # default: the top class
    np.testing.assert_allclose(top, expected.max(axis=1), rtol=1e-4, atol=1e-4)
    with pytest.raises(UserError, match="must be N x 16 x 16 x 6"):
        toy.fetch_above(a[..., :5], TARGET, ["logits"], "conv1")
    with pytest.raises(UserError, match="does not determine input_gradients"):
        toy.fetch_above(a, TARGET, ["input_gradients"], "conv1")


def skip_network(images, num_classes, is_training=False, scope="skip"):
    """conv1 -> conv2 -> GAP -> linear, plus a linear term of the pixels' mean that bypasses
    both layers: conv1's output does not determine the logits."""
    with tf.variable_scope(scope):
        a = slim.conv2d(images, 4, 1, scope="conv1")
        b = slim.conv2d(a, 4, 1, scope="conv2")
        logits = slim.fully_connected(
            tf.reduce_mean(b, [1, 2]), num_classes, activation_fn=None, scope="logits"
        )
        logits += slim.fully_connected(
            tf.reduce_mean(images, [1, 2]), num_classes, activation_fn=None, scope="skip"
        )
    return logits, {"conv1": a, "conv2": b}


def skip_layers(w, images, conv1=None, conv2=None):
    """Numpy (conv1, conv2, logits) of ``skip_network`` (weights ``w`` from its checkpoint);
    ``conv1`` / ``conv2``: edited outputs of that layer used in place of its own, the pixels
    still feeding the bypass."""
    x = np.asarray(images, np.float64)
    a = relu(x @ w["skip/conv1/weights"][0, 0] + w["skip/conv1/biases"]) if conv1 is None else conv1
    b = relu(a @ w["skip/conv2/weights"][0, 0] + w["skip/conv2/biases"]) if conv2 is None else conv2
    head = b.mean(axis=(1, 2)) @ w["skip/logits/weights"] + w["skip/logits/biases"]
    return a, b, head + x.mean(axis=(1, 2)) @ w["skip/skip/weights"] + w["skip/skip/biases"]


def skip_numpy(w, images, conv1=None, conv2=None):
    """Numpy logits of ``skip_network`` (``skip_layers``)."""
    return skip_layers(w, images, conv1, conv2)[2]


@pytest.fixture(scope="module")
def skip_toy(tmp_path_factory):
    """(Model, numpy weights) of ``skip_network`` with random weights."""
    spec = NetworkSpec(
        name="skip_toy",
        network_fn=skip_network,
        preprocessing="raw",
        image_size=SIZE,
        num_classes=3,
        default_layer="conv2",
    )
    path = str(tmp_path_factory.mktemp("skip") / "skip.ckpt")
    with tf.Graph().as_default() as graph:
        tf.set_random_seed(0)
        skip_network(tf.placeholder(tf.float32, [None, SIZE, SIZE, 3]), 3)
        with tf.Session(graph=graph) as session:
            session.run(tf.global_variables_initializer())
            tf.train.Saver().save(session, path)
    reader = tf.train.load_checkpoint(path)
    w = {
        name: reader.get_tensor(name).astype(np.float64)
        for name in reader.get_variable_to_shape_map()
    }
    model = Model(spec, checkpoint=path)
    yield model, w
    model.close()


def test_fetch_above_a_layer_the_network_goes_around_takes_the_pixels(skip_toy, images):
    """Without the pixels the layer's output does not give the logits: one line; with them the
    logits are the network's with that layer's output replaced, as numpy computes them."""
    model, w = skip_toy
    a = model.fetch(images, keys=["activations"], layer="conv1")["activations"]
    edited = a.copy()
    edited[..., a.mean(axis=(0, 1, 2)).argmax()] = 0  # the most active channel
    with pytest.raises(UserError, match="does not determine logits .* give the pixels too"):
        model.fetch_above(edited, None, ["logits"], "conv1")
    out = model.fetch_above(edited, None, ["logits"], "conv1", images=images)["logits"]
    expected = skip_numpy(w, images, conv1=edited)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert np.abs(out - skip_numpy(w, images)).max() > 1e-3  # the edit shows in the logits
    with pytest.raises(UserError, match="one image per row of activations"):
        model.fetch_above(edited, None, ["logits"], "conv1", images=images[:1])


def test_ablation_cam_at_a_layer_the_network_goes_around_matches_numpy(skip_toy, images):
    """Each channel of conv2 zeroed, the bypass of the pixels kept: y_c and the map by hand."""
    model, w = skip_toy
    _, b, logits = skip_layers(w, images)
    rows, targets = np.arange(len(images)), np.array([0, 2, 1])
    y = logits[rows, targets]
    expected = np.zeros(b.shape[:3])
    for c in range(b.shape[-1]):
        copy = b.copy()
        copy[..., c] = 0
        drop = (y - skip_numpy(w, images, conv2=copy)[rows, targets]) / np.abs(y)
        expected += drop[:, None, None] * b[..., c]
    result = run(model, "ablation_cam", images, targets, layer="conv2", batch_size=3)
    np.testing.assert_allclose(result.raw, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    np.testing.assert_allclose(result.logits, logits, rtol=1e-4, atol=1e-5 * np.abs(logits).max())


# -- RISE ------------------------------------------------------------------------------------------
def numpy_rise(weights, image, targets, masks, keep, filler=None, score=None):
    """sum_i (f_i - mean f) M_i / (N p), f the numpy toy's logit (or ``score(logits)``)."""
    filler = np.zeros_like(image) if filler is None else filler
    kept = masks[..., None]
    logits = forward(weights, image[None] * kept + filler[None] * (1 - kept))["logits"]
    out = []
    for t in targets:
        f = logits[:, t] if score is None else score(logits, t)
        out.append(np.tensordot(f - f.mean(), masks, axes=1) / (len(masks) * keep))
    return np.stack(out)


def test_rise_matches_numpy(toy, weights, images):
    masks = np.concatenate(list(rise_masks(20, SIZE, 4, 0.4, seed=3, batch_size=20)))
    result = run(toy, "rise", images, masks=20, cells=4, keep=0.4, seed=3, batch_size=7)
    assert result.raw.shape == (3, SIZE, SIZE) and result.lowres is None
    for n, t in enumerate(TARGET):
        expected = numpy_rise(weights, images[n], [t], masks, 0.4)[0]
        np.testing.assert_allclose(result.raw[n], expected, rtol=1e-3, atol=1e-4)
    mean = np.broadcast_to(images[0].mean(axis=(0, 1)), images[0].shape)
    filled = run(
        toy,
        "rise",
        images[:1],
        target=np.array([0]),
        masks=20,
        cells=4,
        keep=0.4,
        seed=3,
        fill="mean",
    )
    expected = numpy_rise(weights, images[0], [0], masks, 0.4, mean)[0]
    np.testing.assert_allclose(filled.raw[0], expected, rtol=1e-3, atol=1e-4)


def test_rise_is_seeded_and_shares_the_masked_copies(toy, images):
    rows = np.repeat(images[:1], 2, axis=0)
    together = run(toy, "rise", rows, target=np.array([1, 3]), masks=16, cells=4, seed=5)
    again = run(
        toy, "rise", images[:1], target=np.array([3]), masks=16, cells=4, seed=5, batch_size=5
    )
    np.testing.assert_allclose(together.raw[1], again.raw[0], rtol=1e-5, atol=1e-6)
    other = run(toy, "rise", images[:1], target=np.array([3]), masks=16, cells=4, seed=6)
    assert not np.allclose(other.raw[0], again.raw[0])


def test_rise_refuses_bad_options_in_one_line(toy, images):
    with pytest.raises(UserError, match="at least 1 mask"):
        run(toy, "rise", images, masks=0)
    with pytest.raises(UserError, match="keep probability"):
        run(toy, "rise", images, keep=1.5)


# -- EfficientNet-Lite0: the formulas on its own activations and gradients -------------------------
@pytest.fixture(scope="module")
def lite0_pass(lite0, coffee_input):
    """Two targets of the coffee photo: one pass with activations and gradients of the head."""
    rows = np.repeat(coffee_input[None], 2, axis=0)
    targets = np.array([967, 504])  # espresso, coffee mug
    out = lite0.fetch(rows, targets, ["logits", "activations", "layer_gradients", "head_weights"])
    return rows, targets, {k: v.astype(np.float64) for k, v in out.items()}


def test_shared_pass_methods_match_numpy_on_lite0(lite0, lite0_pass):
    rows, targets, out = lite0_pass
    a, g = out["activations"], out["layer_gradients"]
    expected = {
        "layer_cam": np.einsum("nhwc,nhwc->nhw", a, np.maximum(g, 0)),
        "hires_cam": np.einsum("nhwc,nhwc->nhw", a, g),
        "xgrad_cam": np.einsum(
            "nhwc,nc->nhw",
            a,
            np.divide(
                (g * a).sum(axis=(1, 2)),
                a.sum(axis=(1, 2)),
                out=np.zeros((len(a), a.shape[-1])),
                where=a.sum(axis=(1, 2)) > 1e-12,
            ),
        ),
        "eigen_cam": svd_eigencam(a),
    }
    results = explain_many(lite0, rows, targets, list(expected))
    for name, map_ in expected.items():
        scale = np.abs(map_).max()
        np.testing.assert_allclose(
            results[name].lowres, map_, rtol=1e-3, atol=1e-4 * scale, err_msg=name
        )
    mean = a.mean(axis=-1)
    eigen = results["eigen_cam"].lowres
    assert all((eigen[n] * (mean[n] - mean[n].mean())).sum() > 0 for n in range(2))  # sign rule


def test_ablation_cam_on_lite0_head_has_the_closed_form(lite0, lite0_pass):
    """Lite0's head layer feeds GAP + one linear layer: y_k = y - W[k, t] mean(A_k)."""
    rows, targets, out = lite0_pass
    a = out["activations"]
    y = out["logits"][np.arange(2), targets]
    drops = out["head_weights"] * a.mean(axis=(1, 2))  # [n, c]: W[c, t] mean(A_c)
    expected = np.einsum("nhwc,nc->nhw", a, drops / np.abs(y)[:, None])
    result = explain(lite0, rows, targets, "ablation_cam")
    np.testing.assert_allclose(
        result.lowres, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max()
    )


def test_on_lite0_gap_layer_xgrad_and_hires_cam_are_grad_cam_and_differ_below(lite0, coffee_input):
    """Below GAP + linear the gradient is constant over positions: sum(g a) / sum(a) = g and
    sum_c g a = Grad-CAM. One block lower (gradients vary) the three maps part ways."""
    image = coffee_input[None]
    names = ["grad_cam", "xgrad_cam", "hires_cam"]
    head = explain_many(lite0, image, 967, names)
    scale = np.abs(head["grad_cam"].lowres).max()
    for name in names[1:]:
        np.testing.assert_allclose(head[name].lowres, head["grad_cam"].lowres, atol=1e-5 * scale)
    below = explain_many(lite0, image, 967, names, layer="block_15")
    scale = np.abs(below["grad_cam"].lowres).max()
    for name in names[1:]:
        assert np.abs(below[name].lowres - below["grad_cam"].lowres).max() > 1e-2 * scale
