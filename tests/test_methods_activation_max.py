"""Activation maximisation raises its objective (with its regularisers on); its channel ops are
built once."""
import numpy as np
import pytest

from gradcam.errors import UserError
from gradcam.methods.activation_max import maximize
from methods_toynet import make_toy_model, toy_weights


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    model = make_toy_model(tmp_path_factory.mktemp("toy_max"), toy_weights(seed=11), name="toy_max",
                           relu=False)  # linear: every start has a gradient
    yield model
    model.close()


def test_class_visualisation_raises_the_target_logit(toy):
    result = maximize(toy, target=2, steps=30, jitter=2)
    start = toy.predict(np.full((1, 16, 16, 3), 127.5, np.float32))[0, 2]
    final = toy.predict(result.image[None].astype(np.float32))[0, 2]
    assert result.image.dtype == np.uint8 and result.image.shape == (16, 16, 3)
    assert final > start + 1.0 and result.objective[-1] > result.objective[0]


def test_channel_visualisation_raises_the_channel_and_builds_ops_once(toy):
    first = maximize(toy, layer="conv1", channel=3, steps=20, jitter=1)
    assert first.objective[-1] > first.objective[0]
    ops = toy.op_count
    maximize(toy, layer="conv1", channel=1, steps=2)
    assert toy.op_count == ops


def test_bad_channel_and_missing_goal_are_user_errors(toy):
    with pytest.raises(UserError, match="out of range"):
        maximize(toy, layer="conv1", channel=99, steps=1)
    with pytest.raises(UserError):
        maximize(toy, steps=1)
