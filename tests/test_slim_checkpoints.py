"""Slim checkpoints round trip: random weights saved under the real Slim variable names restore into
``Model`` and give the logits of the session that saved them; end points have the Slim shapes."""

import numpy as np
import pytest

from gradcam.methods import METHODS
from gradcam.model import Model
from nets.nets_factory import NETWORKS
from nets.tf_compat import tf

from conftest import photo, smoke_options


def save_random(spec, directory, pixels, seed=0):
    """Random weights for ``spec`` (non-trivial BN statistics) saved with tf.train.Saver; returns
    the checkpoint prefix and the logits of ``pixels`` computed in the saving session."""
    with tf.Graph().as_default() as graph:
        tf.set_random_seed(seed)
        images = tf.placeholder(tf.float32, [None, spec.image_size, spec.image_size, 3])
        logits, _ = spec.build(images / 127.5 - 1.0)
        with tf.Session(graph=graph) as session:
            session.run(tf.global_variables_initializer())
            rng = np.random.default_rng(seed)
            for variable in tf.global_variables():
                shape = variable.shape.as_list()
                if "moving_variance" in variable.name:
                    variable.load(rng.uniform(0.5, 1.5, shape).astype(np.float32), session)
                elif "moving_mean" in variable.name or "beta" in variable.name:
                    variable.load(rng.normal(0, 0.1, shape).astype(np.float32), session)
            path = tf.train.Saver().save(session, str(directory / f"{spec.name}.ckpt"))
            return path, session.run(tf.reshape(logits, [-1, spec.num_classes]), {images: pixels})


@pytest.fixture(scope="module", params=["resnet_v2_50", "inception_v3"])
def restored(request, tmp_path_factory):
    """(Model restored from a random checkpoint, saved-session logits, checkpoint prefix, input)."""
    spec = NETWORKS[request.param]
    assert spec.preprocessing == "inception"  # the saving graph above normalises that way
    pixels = crop(photo("chelsea"), spec)[None].astype(np.float32)
    path, logits = save_random(spec, tmp_path_factory.mktemp(spec.name), pixels)
    model = Model(spec.name, checkpoint=path)
    yield model, logits, path, pixels
    model.close()


def crop(image, spec):
    from gradcam.preprocessing import crop_and_resize

    return crop_and_resize(image, spec.image_size, spec.preprocessing)


def test_restored_logits_equal_saved_session_logits(restored):
    model, logits, _, pixels = restored
    assert logits.shape == (1, 1001) and np.ptp(logits) > 1e-3
    np.testing.assert_allclose(
        model.predict(pixels), logits, rtol=1e-4, atol=1e-4 * np.abs(logits).max()
    )


def test_checkpoint_uses_slim_variable_names(restored):
    model, _, path, _ = restored
    names = {name for name, _ in tf.train.list_variables(path)}
    expected = {
        "resnet_v2_50": [
            "resnet_v2_50/block1/unit_1/bottleneck_v2/conv1/weights",
            "resnet_v2_50/block4/unit_3/bottleneck_v2/conv2/BatchNorm/moving_variance",
            "resnet_v2_50/postnorm/gamma",
            "resnet_v2_50/logits/weights",
        ],
        "inception_v3": [
            "InceptionV3/Conv2d_1a_3x3/weights",
            "InceptionV3/Mixed_7c/Branch_3/Conv2d_0b_1x1/weights",
            "InceptionV3/Mixed_7c/Branch_1/Conv2d_0b_1x3/BatchNorm/moving_mean",
            "InceptionV3/Logits/Conv2d_1c_1x1/weights",
        ],
    }[model.name]
    assert set(expected) <= names
    assert NETWORKS[model.name].head_weights in names


def test_default_layer_explains_at_feature_resolution(restored):
    from gradcam.explanation import explain

    model, logits, _, pixels = restored
    side = {"resnet_v2_50": 10, "inception_v3": 8}[model.name]
    activations = model.fetch(pixels, keys=["activations"])["activations"]
    assert activations.shape == (1, side, side, 2048)
    result = explain(model, pixels, int(logits[0].argmax()))
    assert result.lowres.shape == (1, side, side)
    assert result.map.shape == (1, 299, 299) and np.isfinite(result.map).all()


def end_point_shape(network, end_point):
    """Static [h, w, c] of an end point from a graph built without weights."""
    spec = NETWORKS[network]
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [1, spec.image_size, spec.image_size, 3])
        _, end_points = spec.build(images)
        assert spec.default_layer in end_points
        return end_points[end_point].shape.as_list()[1:]


@pytest.mark.parametrize(
    "network,end_point,shape",
    [
        ("inception_v1", "Mixed_5c", [7, 7, 1024]),
        ("resnet_v1_50", "resnet_v1_50/block4", [7, 7, 2048]),
        ("vgg_16", "vgg_16/conv5/conv5_3", [14, 14, 512]),
    ],
)
def test_end_point_shapes(network, end_point, shape):
    assert end_point_shape(network, end_point) == shape


def test_wrong_class_count_is_a_clear_error(restored):
    """A 10-way head against the 1001-way checkpoint: the error names its class count."""
    from gradcam.checkpoints import restore_variables
    from gradcam.errors import UserError

    model, _, path, _ = restored
    head = NETWORKS[model.name].head_weights
    with tf.Graph().as_default() as graph:
        kernel = tf.train.load_checkpoint(path).get_tensor(head).shape
        tf.get_variable(head, list(kernel[:-1]) + [10])
        with tf.Session() as session, pytest.raises(UserError, match="wrong shapes.*1001 classes"):
            restore_variables(session, graph, path, model.name)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_through_the_cli_on_the_slim_net(restored, method, tmp_path):
    """The CLI's model loading answers with the restored random-weight net (building it per method
    is slow); the method, its layer default and the figure are the CLI's own."""
    from PIL import Image

    from gradcam.cli import main

    model, logits, _, pixels = restored
    image = tmp_path / "cat.png"
    Image.fromarray(pixels[0].astype(np.uint8)).save(image)
    out = tmp_path / f"{method}.png"
    options = smoke_options(method)
    assert (
        main(
            [
                "explain",
                str(image),
                "--model",
                model.name,
                "--method",
                method,
                "--class",
                str(int(logits[0].argmax())),
                "--output",
                str(out),
                "--save-npz",
                *options,
            ],
            load_model=lambda args: model,
        )
        == 0
    )
    arrays = np.load(out.with_suffix(".npz"))
    assert arrays["map"].shape == (299, 299) and np.isfinite(arrays["map"]).all()
    side = {"resnet_v2_50": 10, "inception_v3": 8}[model.name]
    assert ("lowres" in arrays) == METHODS[method].lowres
    if METHODS[method].lowres:
        assert arrays["lowres"].shape == (side, side)


def test_fine_tuned_resnet_head_with_a_label_file_everywhere(tmp_path, capsys):
    """The Hive's setting: a resnet_v2_50 whose logits layer has 3 classes (Slim background + 2),
    named by a label file: names work for --class, the top-k, --json and the batch JSON lines."""
    import json

    from PIL import Image

    from gradcam.cli import main

    from conftest import make_random_checkpoint

    checkpoint = make_random_checkpoint("resnet_v2_50", tmp_path, num_classes=3)
    (tmp_path / "labels.txt").write_text("0:background\n1:alcohol\n2:gambling\n")
    (tmp_path / "in").mkdir()
    Image.fromarray(photo("coffee")).save(tmp_path / "in" / "coffee.png")
    model_flags = [
        "--model",
        "resnet_v2_50",
        "--checkpoint",
        checkpoint,
        "--num-classes",
        "3",
        "--labels",
        str(tmp_path / "labels.txt"),
    ]
    assert (
        main(
            [
                "explain",
                str(tmp_path / "in" / "coffee.png"),
                *model_flags,
                "--class",
                "Gambling",
                "--top-k",
                "3",
                "--json",
                "--output",
                str(tmp_path / "out.png"),
            ]
        )
        == 0
    )
    record = json.loads(capsys.readouterr().out)
    assert record["targets"][0]["index"] == 2 and record["targets"][0]["label"] == "gambling"
    assert {c["label"] for c in record["top_k"]} == {"background", "alcohol", "gambling"}
    assert (
        main(
            [
                "batch",
                str(tmp_path / "in"),
                "--out",
                str(tmp_path / "batch"),
                *model_flags,
                "--class",
                "alcohol",
                "--no-progress",
            ]
        )
        == 0
    )
    line = json.loads((tmp_path / "batch" / "results.jsonl").read_text())
    assert line["target"]["label"] == "alcohol" and line["target"]["index"] == 1
    assert (
        main(
            [
                "explain",
                str(tmp_path / "in" / "coffee.png"),
                *model_flags,
                "--class",
                "drugs",
                "--output",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    assert "drugs" in capsys.readouterr().err
