"""Maps with no signal are reported as such (flag, JSON, NPZ, one warning), never NaN or noise.

Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization") ends with a ReLU. On Lite0 the CAM layer feeds global average
pooling and the linear head, so the Grad-CAM weights of class c are W[:, c] / (h*w) and the
weighted sum is (A @ W[:, c]) / (h*w): for a class whose sum is <= 0 at every position the ReLU
leaves nothing. Such classes are found here with numpy from the activations and head weights.
"""

import json
import warnings

import numpy as np
import pytest

from gradcam import cli
from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.methods import METHODS
from nets.nets_factory import NETWORKS
from nets.tf_compat import tf

from bad_inputs import reusing_model


def _head_cams(model, image):
    """(A @ W) per class [h, w, C] from the CAM layer's activations and the head's weights."""
    activations = model.fetch(image[None], keys=["activations"])["activations"][0]
    with model.graph.as_default():
        head = next(
            v for v in tf.global_variables() if v.op.name == NETWORKS[model.name].head_weights
        )
    weights = model.session.run(head).reshape(-1, model.num_classes)
    return activations @ weights


@pytest.fixture(scope="module")
def dead_class(lite0, cat_input):
    """A class whose Grad-CAM weighted sum on the cat is <= 0 everywhere (numpy, independently)."""
    cams = _head_cams(lite0, cat_input)
    dead = np.flatnonzero(cams.max(axis=(0, 1)) <= 0)
    assert dead.size, "no class with an all-negative CAM on the cat"
    return int(dead[0])


def test_relu_killed_map_is_flagged_not_normalised(lite0, cat_input, dead_class):
    with pytest.warns(UserWarning, match="all zero"):
        result = explain(lite0, cat_input[None], dead_class)
    assert result.degenerate.tolist() == [True]
    assert np.all(result.map == 0)
    assert np.all(np.isfinite(result.raw)) and result.raw.max() <= 1e-6


def test_live_class_is_not_flagged(lite0, cat_input):
    top = int(lite0.predict(cat_input[None])[0].argmax())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = explain(lite0, cat_input[None], top)
    assert result.degenerate.tolist() == [False] and result.map.max() == 1.0


def test_cli_reports_all_zero_map(lite0, dead_class, tmp_path, monkeypatch, capfd):
    from PIL import Image

    import gradcam.model

    from conftest import photo

    monkeypatch.setattr(gradcam.model, "Model", reusing_model(lite0, gradcam.model.Model))
    image = tmp_path / "cat.png"
    Image.fromarray(photo("chelsea")).save(image)
    status = cli.main(
        [
            "explain",
            str(image),
            "--class",
            str(dead_class),
            "--json",
            "--output",
            f"{tmp_path}/",
            "--save-npz",
        ]
    )
    stdout, stderr = capfd.readouterr()
    assert status == 0
    warning_lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("gradcam: warning: ")
    assert "all zero" in warning_lines[0]
    record = json.loads(stdout)
    assert record["targets"][0]["all_zero_map"] is True
    arrays = np.load(record["npz"])
    assert bool(arrays["degenerate"]) and not arrays["map"].any()


@pytest.mark.parametrize("grey", [0, 128, 255, (255, 0, 0)])
def test_constant_image_gives_zero_map_for_every_method(lite0, grey):
    """A constant image carries no evidence: every method's display map is all zero and flagged,
    with one warning naming the cause, whatever its raw output (zero padding makes a convnet's
    border features differ, so gradients need not vanish; black is also the IG baseline)."""
    image = np.broadcast_to(np.asarray(grey, np.uint8), (1, 224, 224, 3))  # grey, or solid red
    for name in METHODS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = explain(lite0, image, 0, name, **METHODS[name].smoke)
        messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        assert result.degenerate.tolist() == [True], name
        assert result.map.dtype == np.float32 and not result.map.any(), name
        assert np.all(np.isfinite(result.raw)), name
        assert len(messages) == 1 and "constant" in messages[0], (name, messages)


def test_constant_image_in_a_batch_leaves_the_others_alone(lite0, cat_input):
    images = np.stack([cat_input, np.full_like(cat_input, 77)])
    top = int(lite0.predict(cat_input[None])[0].argmax())
    with pytest.warns(UserWarning, match="1 of 2 images are constant"):
        result = explain(lite0, images, [top, top])
    alone = explain(lite0, cat_input[None], top)
    assert result.degenerate.tolist() == [False, True] and not result.map[1].any()
    np.testing.assert_allclose(result.map[0], alone.map[0], atol=1e-5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_refused(lite0, cat_input, bad):
    image = cat_input[None].astype(np.float32)
    image[0, 100, 100, 1] = bad
    with pytest.raises(UserError, match="NaN or infinite"):
        lite0.fetch(image)
    with pytest.raises(UserError, match="NaN or infinite"):
        explain(lite0, image, 281)
