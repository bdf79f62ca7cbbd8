"""Activation maximisation raises its objective (with its regularisers on); its channel ops are
built once."""

import numpy as np
import pytest

from gradcam.errors import UserError
from gradcam.maximize import maximize

from methods_toynet import make_toy_model, toy_weights


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    model = make_toy_model(
        tmp_path_factory.mktemp("toy_max"), toy_weights(seed=11), name="toy_max", relu=False
    )  # linear: every start has a gradient
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


def test_unit_visualisation_raises_that_unit_and_checks_its_position(toy):
    result = maximize(toy, layer="conv1", channel=2, unit=(3, 5), steps=20, jitter=0)
    assert result.objective[-1] > result.objective[0]
    ops = toy.op_count
    other = maximize(toy, layer="conv1", channel=2, unit=(9, 1), steps=3, jitter=0)
    assert toy.op_count == ops and other.objective[0] != result.objective[0]
    with pytest.raises(UserError, match="outside"):
        maximize(toy, layer="conv1", channel=2, unit=(99, 0), steps=1)


def test_unit_gradient_comes_from_that_position_only(toy):
    """A 1x1 conv layer: the unit at (y, x) depends on the pixel at (y, x) alone."""
    from gradcam.maximize import _objective_fn

    evaluate = _objective_fn(toy, None, "conv1", 2, (3, 5))
    _, gradient = evaluate(np.full((1, 16, 16, 3), 100.0, np.float32))
    gradient = gradient[0]
    assert np.abs(gradient[3, 5]).sum() > 0
    gradient[3, 5] = 0
    assert not gradient.any()
