"""Any TF graph: the embedded model exported as a frozen GraphDef and a SavedModel explains
exactly like the native Slim path (same logits, Grad-CAM maps and pixel gradients), with the
tensors named or found."""

import json

import numpy as np
import pytest
from PIL import Image

from gradcam.cli import main
from gradcam.explanation import explain
from gradcam.model import Model

from conftest import photo


def graph_model(path, input_tensor, logits_tensor, layer_tensor, preprocessing, **kwargs):
    return Model.from_file(
        path,
        input_tensor=input_tensor,
        logits_tensor=logits_tensor,
        layer_tensor=layer_tensor,
        preprocessing=preprocessing,
        **kwargs,
    )


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
    model = graph_model(exported / kind, "input", "logits:0", LAYER, "efficientnet_lite")
    assert (model.image_size, model.num_classes, model.label(967)) == (224, 1000, "espresso")
    images = np.stack([coffee_input, cat_input])
    target = [967, 282]
    native, graph = explain(lite0, images, target), explain(model, images, target)
    np.testing.assert_allclose(graph.logits, native.logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(graph.lowres, native.lowres, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(graph.map, native.map, atol=1e-4)
    for key in ("input_gradients", "guided_input_gradients"):  # guided: imported Relu6 ops too
        ours = model.fetch(images, target, [key])[key]
        theirs = lite0.fetch(images, target, [key])[key]
        np.testing.assert_allclose(ours, theirs, atol=1e-5 * np.abs(theirs).max())
    plain = model.fetch(images, target, ["input_gradients"])["input_gradients"]
    assert not np.allclose(ours, plain)
    model.close()


def test_graph_through_cli(exported, tmp_path, capsys):
    image = tmp_path / "coffee.png"
    Image.fromarray(photo("coffee")).save(image)
    status = main(
        [
            "explain",
            str(image),
            "--graph",
            str(exported / "frozen.pb"),
            "--input-tensor",
            "input",
            "--logits-tensor",
            "logits",
            "--layer-tensor",
            LAYER,
            "--preprocessing",
            "efficientnet_lite",
            "--class",
            "cup",
            "--json",
            "--output",
            str(tmp_path / "out.png"),
        ]
    )
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
    base = [
        "explain",
        str(image),
        "--graph",
        str(exported / "frozen.pb"),
        "--preprocessing",
        "efficientnet_lite",
    ]
    err = _error_line(
        capsys,
        base + ["--input-tensor", "input", "--logits-tensor", "logit", "--layer-tensor", LAYER],
    )
    assert "--logits-tensor 'logit:0' is not in" in err and "close: logits" in err
    err = _error_line(
        capsys,
        base
        + [
            "--input-tensor",
            "input",
            "--logits-tensor",
            "logits",
            "--layer-tensor",
            "efficientnet_lite0/head/Relu",
        ],
    )
    assert "--layer-tensor" in err and LAYER in err
    err = _error_line(
        capsys,
        base
        + [
            "--input-tensor",
            "input",
            "--logits-tensor",
            "logits",
            "--layer-tensor",
            LAYER,
            "--num-classes",
            "5",
        ],
    )
    assert "--num-classes 5 but 'logits:0' has 1000 classes" in err
    err = _error_line(capsys, base + ["--input-tensor", "input", "--layer-tensor", "head/Relu7"])
    assert "--layer-tensor 'head/Relu7:0' is not in" in err and err.endswith("; close: head\n")


@pytest.mark.parametrize("kind", ["frozen.pb", "saved_model"])
def test_exported_graph_tensors_are_found(lite0, coffee_input, exported, kind):
    """No tensor named: the input is the one placeholder (the SavedModel's signature says it),
    the logits the graph's output, the default layer the map before the pooling; layer paths come
    from the name scopes (the model's own outer scope dropped), tensor names work too."""
    model = Model.from_file(exported / kind, preprocessing="efficientnet_lite")
    assert (model.image_size, model.num_classes, model.default_layer) == (224, 1000, "head")
    assert model.activation == "softmax" and model.unguided == ()
    native = explain(lite0, coffee_input[None], 967)
    found = explain(model, coffee_input[None], 967)
    np.testing.assert_allclose(found.lowres, native.lowres, rtol=1e-4, atol=1e-6)
    by_name = explain(model, coffee_input[None], 967, layer=LAYER)
    np.testing.assert_allclose(by_name.lowres, found.lowres, rtol=1e-5, atol=1e-7)
    model.close()


@pytest.fixture(scope="module")
def toy_graph(tmp_path_factory):
    """A frozen toy graph: input -> 'used' -> logits (plus 'mask', fed by a second input that has
    a default), and a 4-D 'side' branch of the input that the logits ignore."""
    from nets.tf_compat import tf

    with tf.Graph().as_default() as graph:
        image = tf.placeholder(tf.float32, [None, 8, 8, 3], name="input")
        second = tf.placeholder_with_default(tf.zeros([1, 8, 8, 3]), [None, 8, 8, 3], "mask_input")
        mask = tf.nn.relu(second, name="mask")
        used = tf.nn.relu(tf.nn.conv2d(image, tf.ones([1, 1, 3, 3]), 1, "SAME"), name="used")
        tf.nn.relu(image * 2.0, name="side")
        tf.add(tf.reduce_mean(used, [1, 2]), tf.reduce_mean(mask, [1, 2]), name="logits")
    path = tmp_path_factory.mktemp("toy") / "toy.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def test_toy_graph_layers_are_those_between_input_and_logits(toy_graph):
    model = graph_model(toy_graph, "input", "logits", "used", "efficientnet_lite")
    assert model.num_classes == 3 and "used" in model.layer_names
    assert "side" not in model.layer_names and "mask" not in model.layer_names
    model.close()


def test_graph_needing_a_second_input_is_one_line(tmp_path, capsys):
    from nets.tf_compat import tf

    with tf.Graph().as_default() as graph:
        image = tf.placeholder(tf.float32, [None, 8, 8, 3], name="input")
        scale = tf.placeholder(tf.float32, [], name="scale")
        used = tf.nn.relu(
            tf.nn.conv2d(image, tf.ones([3, 3, 3, 2]), 1, "SAME") * scale, name="used"
        )
        tf.reduce_mean(used, [1, 2], name="logits")
    path = tmp_path / "two.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    image_file = tmp_path / "coffee.png"
    Image.fromarray(photo("coffee")).save(image_file)
    err = _error_line(capsys, ["explain", str(image_file), "--model-file", str(path)])
    assert "the logits also need the input scale; only models with one image input" in err


def test_output_index_and_off_path_layer_are_one_line_errors(toy_graph, tmp_path, capsys):
    image = tmp_path / "coffee.png"
    Image.fromarray(photo("coffee")).save(image)
    base = [
        "explain",
        str(image),
        "--graph",
        str(toy_graph),
        "--input-tensor",
        "input",
        "--preprocessing",
        "efficientnet_lite",
    ]
    err = _error_line(capsys, base + ["--logits-tensor", "logits:1", "--layer-tensor", "used"])
    assert "--logits-tensor 'logits:1': op 'logits' has 1 output; use logits:0" in err
    err = _error_line(capsys, base + ["--logits-tensor", "logits", "--layer-tensor", "used:x"])
    assert "--layer-tensor 'used:x': op 'used' has 1 output" in err
    err = _error_line(capsys, base + ["--logits-tensor", "logits", "--layer-tensor", "side"])
    assert "--layer-tensor 'side:0': the logits 'logits:0' do not depend on it" in err
    err = _error_line(capsys, base + ["--logits-tensor", "logits", "--layer-tensor", "mask"])
    assert "--layer-tensor 'mask:0' does not depend on the input 'input:0'" in err


def test_input_without_fixed_size_takes_image_size(tmp_path):
    """A frozen graph whose input is N x ? x ? x 3: --image-size sets what the network sees; without
    it, or against a fixed size, a one-line error."""
    from gradcam.errors import UserError
    from gradcam.explanation import explain
    from nets.tf_compat import tf

    with tf.Graph().as_default() as graph:
        image = tf.placeholder(tf.float32, [None, None, None, 3], name="input")
        used = tf.nn.relu(tf.nn.conv2d(image, tf.ones([3, 3, 3, 4]), 2, "SAME"), name="used")
        tf.identity(tf.reduce_mean(used, [1, 2]), name="logits")
    path = tmp_path / "free.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(UserError, match="no fixed size: pass image_size"):
        graph_model(path, "input", "logits", "used", "raw")
    model = graph_model(path, "input", "logits", "used", "raw", image_size=40)
    picture = model.prepare(photo("coffee"))
    assert picture.shape == (40, 40, 3)
    result = explain(model, picture[None], [1])
    assert result.lowres.shape == (1, 20, 20) and result.map.shape == (1, 40, 40)
    model.close()
