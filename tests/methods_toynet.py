"""A tiny network for method tests whose every quantity is known in closed form (numpy):

    x (pixels, no normalisation) -> conv1 (1x1, ReLU) = A -> conv2 (1x1, ReLU) = B -> GAP -> linear

Being 1x1 convolutions, both feature maps are at input resolution.
"""

import numpy as np
import pytest

from gradcam.model import Model
from nets.nets_factory import NetworkSpec
from nets.tf_compat import slim, tf

SIZE = 16


def toy_weights(seed=0, hidden=(6, 5), classes=4):
    """Random weights scaled for pixel inputs in [0, 255], biases mixing the ReLU patterns."""
    rng = np.random.default_rng(seed)
    c1, c2 = hidden
    return {
        "conv1/weights": rng.normal(0, 0.01, (1, 1, 3, c1)),
        "conv1/biases": rng.normal(0, 1.0, c1),
        "conv2/weights": rng.normal(0, 0.5, (1, 1, c1, c2)),
        "conv2/biases": rng.normal(0, 0.3, c2),
        "logits/weights": rng.normal(0, 1.0, (c2, classes)),
        "logits/biases": rng.normal(0, 0.1, classes),
    }


def _network_fn(activation, hidden):
    def toy(images, num_classes, is_training=False, scope="toy"):
        end_points = {}
        with tf.variable_scope(scope):
            a = slim.conv2d(images, hidden[0], 1, activation_fn=activation, scope="conv1")
            b = slim.conv2d(a, hidden[1], 1, activation_fn=activation, scope="conv2")
            end_points["conv1"], end_points["conv2"] = a, b
            logits = slim.fully_connected(
                tf.reduce_mean(b, [1, 2]), num_classes, activation_fn=None, scope="logits"
            )
        return logits, end_points

    return toy


def make_toy_model(directory, weights, name="toy", relu=True, head=True):
    """Save ``weights`` as a checkpoint of the toy network (spec ``name``, not registered) and
    return a Model of it."""
    hidden = (weights["conv1/weights"].shape[-1], weights["conv2/weights"].shape[-1])
    classes = weights["logits/weights"].shape[-1]
    fn = _network_fn(tf.nn.relu if relu else None, hidden)
    spec = NetworkSpec(
        name=name,
        network_fn=fn,
        preprocessing="raw",
        image_size=SIZE,
        num_classes=classes,
        default_layer="conv2",
        head_weights="toy/logits/weights" if head else None,
    )
    with tf.Graph().as_default() as graph:
        fn(tf.placeholder(tf.float32, [None, SIZE, SIZE, 3]), classes)
        with tf.Session(graph=graph) as session:
            for var in tf.global_variables():
                var.load(weights[var.op.name[len("toy/") :]].astype(np.float32), session)
            path = tf.train.Saver().save(session, str(directory / f"{name}.ckpt"))
    return Model(spec, checkpoint=path)


def relu(x):
    return np.maximum(x, 0.0)


def forward(weights, x, relu_fn=relu):
    """Numpy forward: dict with z1, a, z2, b (pre/post activations) and logits, in float64."""
    w = {k: np.asarray(v, np.float64) for k, v in weights.items()}
    z1 = np.asarray(x, np.float64) @ w["conv1/weights"][0, 0] + w["conv1/biases"]
    a = relu_fn(z1)
    z2 = a @ w["conv2/weights"][0, 0] + w["conv2/biases"]
    b = relu_fn(z2)
    return {
        "z1": z1,
        "a": a,
        "z2": z2,
        "b": b,
        "logits": b.mean(axis=(1, 2)) @ w["logits/weights"] + w["logits/biases"],
    }


def backward(weights, x, target, guided=False):
    """Closed-form d logit[target] / d (B, A, x) of the ReLU toy (grad_b, grad_a, grad_x);
    ``guided`` also zeroes negative gradients at each ReLU (Springenberg et al. 2014)."""
    f = forward(weights, x)
    w = {k: np.asarray(v, np.float64) for k, v in weights.items()}
    n, h, wd = np.shape(x)[:3]
    g_b = np.broadcast_to(
        w["logits/weights"][:, target].T[:, None, None, :] / (h * wd), f["b"].shape
    ).copy()
    g_z2 = g_b * (f["z2"] > 0) * ((g_b > 0) if guided else 1)
    g_a = g_z2 @ w["conv2/weights"][0, 0].T
    g_z1 = g_a * (f["z1"] > 0) * ((g_a > 0) if guided else 1)
    return {"grad_b": g_b, "grad_a": g_a, "grad_x": g_z1 @ w["conv1/weights"][0, 0].T}


def toy_fixtures(name, weight_seed, image_seed, rows=3):
    """Module-scoped fixtures (weights, toy, images) of a test module: the toy's weights, a Model
    of them (closed after the module) and ``rows`` random images; use as
    ``weights, toy, images = toy_fixtures("toy_x", 1, 2)``."""

    @pytest.fixture(scope="module")
    def weights():
        return toy_weights(seed=weight_seed)

    @pytest.fixture(scope="module")
    def toy(tmp_path_factory, weights):
        model = make_toy_model(tmp_path_factory.mktemp(name), weights, name=name)
        yield model
        model.close()

    @pytest.fixture(scope="module")
    def images():
        return (
            np.random.default_rng(image_seed)
            .uniform(0, 255, (rows, SIZE, SIZE, 3))
            .astype(np.float32)
        )

    return weights, toy, images
