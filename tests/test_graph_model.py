"""Any TF graph: the embedded model exported as a frozen GraphDef and a SavedModel explains
exactly like the native Slim path (same logits, Grad-CAM maps and pixel gradients)."""
import json

import numpy as np
import pytest
from PIL import Image

from gradcam.cli import main
from gradcam.explain import explain
from tests.conftest import photo

LAYER = "efficientnet_lite0/head/Relu6"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from gradcam.export import export

    out = tmp_path_factory.mktemp("exported")
    names = export("efficientnet_lite0", out)
    assert names["layer"] == LAYER + ":0"
    return out


@pytest.mark.parametrize("kind", ["frozen.pb", "saved_model"])
def test_exported_graph_explains_like_native(lite0, coffee_input, cat_input, exported, kind):
    from gradcam.graph_model import GraphModel

    model = GraphModel(exported / kind, "input", "logits:0", LAYER, "efficientnet_lite")
    assert (model.image_size, model.num_classes, model.label(967)) == (224, 1000, "espresso")
    images = np.stack([coffee_input, cat_input])
    target = [967, 282]
    native, graph = explain(lite0, images, target), explain(model, images, target)
    np.testing.assert_allclose(graph.logits, native.logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(graph.lowres, native.lowres, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(graph.map, native.map, atol=1e-4)
    for guided in (False, True):  # guided backprop reaches the imported Relu6 ops too
        ours = model.input_gradients(images, target, guided=guided)["gradients"]
        theirs = lite0.input_gradients(images, target, guided=guided)["gradients"]
        np.testing.assert_allclose(ours, theirs, atol=1e-5 * np.abs(theirs).max())
    plain = model.input_gradients(images, target)["gradients"]
    assert not np.allclose(ours, plain)
    model.close()


def test_graph_through_cli(exported, tmp_path, capsys):
    image = tmp_path / "coffee.png"
    Image.fromarray(photo("coffee")).save(image)
    status = main(["explain", str(image), "--graph", str(exported / "frozen.pb"),
                   "--input-tensor", "input", "--logits-tensor", "logits",
                   "--layer-tensor", LAYER, "--preprocessing", "efficientnet_lite",
                   "--class", "cup", "--json", "--output", str(tmp_path / "out.png")])
    assert status == 0
    record = json.loads(capsys.readouterr().out)
    assert record["top_k"][0]["label"] == "espresso"
    assert record["targets"][0]["index"] == 968 and (tmp_path / "out.png").exists()


def _error_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradcam: error: ")
    return err


def test_graph_errors_are_one_line(exported, tmp_path, capsys):
    image = tmp_path / "coffee.png"
    Image.fromarray(photo("coffee")).save(image)
    base = ["explain", str(image), "--graph", str(exported / "frozen.pb"),
            "--preprocessing", "efficientnet_lite"]
    err = _error_line(capsys, base + ["--input-tensor", "input", "--logits-tensor", "logit",
                                      "--layer-tensor", LAYER])
    assert "--logits-tensor 'logit:0' is not in" in err and "close: logits" in err
    err = _error_line(capsys, base + ["--input-tensor", "input", "--logits-tensor", "logits",
                                      "--layer-tensor", "efficientnet_lite0/head/Relu"])
    assert "--layer-tensor" in err and LAYER in err
    err = _error_line(capsys, base + ["--input-tensor", "input", "--logits-tensor", "logits",
                                      "--layer-tensor", LAYER, "--num-classes", "5"])
    assert "--num-classes 5 but 'logits:0' has 1000 classes" in err
    err = _error_line(capsys, base + ["--input-tensor", "input"])
    assert "--graph needs --logits-tensor, --layer-tensor" in err
