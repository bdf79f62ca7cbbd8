"""Fine-tune a custom classifier on a toy set whose evidence we placed, then explain it.

The "marked" class differs from "plain" only by a magenta square in the top-left corner
(scripts/make_marked_dataset.py), so Grad-CAM for "marked" on held-out images must point there.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from gradcam.cli import main
from gradcam.errors import UserError
from nets.nets_factory import NETWORKS

from scripts_helper import script

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from gradcam.finetune import finetune

    make = script("make_marked_dataset").make_marked_dataset
    root = tmp_path_factory.mktemp("marked")
    train, held_out = make(root / "train", 20, seed=0), make(root / "held_out", 6, seed=1)
    result = finetune(train, root / "mine", steps=100)
    assert result.cached_features and result.class_names == ["marked", "plain"]
    assert result.train_accuracy == 1.0
    return root, held_out


@pytest.fixture(scope="module")
def custom_model(trained):
    from gradcam.model import Model

    root = trained[0]
    model = Model(
        "efficientnet_lite0", root / "mine", num_classes=2, labels=root / "mine" / "labels.txt"
    )  # a label file is read
    yield model
    model.close()


def _held_out(model, folder):
    from gradcam.images import load_image

    return np.stack([model.prepare(load_image(p)) for p in sorted(folder.glob("*.png"))])


def test_grad_cam_for_marked_points_at_the_mark(trained, custom_model):
    from gradcam.explanation import explain

    held_out = trained[1]
    marked = custom_model.class_index("marked")
    images = _held_out(custom_model, held_out / "marked")
    plain = _held_out(custom_model, held_out / "plain")
    assert (custom_model.predict(images).argmax(1) == marked).sum() >= 4
    assert (custom_model.predict(plain).argmax(1) != marked).sum() >= 5
    result = explain(custom_model, images, marked)
    quadrant = custom_model.image_size // 2
    found = result.probabilities[:, marked] > 0.5
    for heat in result.map[found]:
        row, col = np.unravel_index(heat.argmax(), heat.shape)
        assert row < quadrant and col < quadrant
        assert heat[:quadrant, :quadrant].sum() > 0.5 * heat.sum()


def test_class_names_from_the_label_file_in_the_cli(trained, tmp_path, capsys):
    root, held_out = trained
    image = sorted((held_out / "marked").glob("*.png"))[0]
    status = main(
        [
            "explain",
            str(image),
            "--checkpoint",
            str(root / "mine"),
            "--num-classes",
            "2",
            "--labels",
            str(root / "mine" / "labels.txt"),
            "--class",
            "marked",
            "--json",
            "--top-k",
            "2",
            "--output",
            str(tmp_path / "out.png"),
        ]
    )
    assert status == 0
    record = json.loads(capsys.readouterr().out)
    assert record["targets"][0]["label"] == "marked" and record["targets"][0]["index"] == 0
    assert {row["label"] for row in record["top_k"]} == {"marked", "plain"}


def _error_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradcam: error: ")
    return err


def test_label_file_of_the_wrong_length(trained, tmp_path, capsys):
    root, held_out = trained
    labels = tmp_path / "labels.txt"
    labels.write_text("0:marked\n")
    image = str(sorted((held_out / "plain").glob("*.png"))[0])
    err = _error_line(
        capsys,
        [
            "explain",
            image,
            "--checkpoint",
            str(root / "mine"),
            "--num-classes",
            "3",
            "--labels",
            str(labels),
        ],
    )
    assert "has ids 0; expected each of 0..2 once" in err and "3 classes" in err


def test_finetune_data_errors(tmp_path, capsys):
    from gradcam.finetune import image_folder

    (tmp_path / "only").mkdir()
    with pytest.raises(UserError, match="has no images"):
        image_folder(tmp_path)
    (tmp_path / "only" / "a.png").write_bytes(b"")
    with pytest.raises(UserError, match="needs at least two class folders"):
        image_folder(tmp_path)
    assert script("finetune").main([str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "data directory not found" in capsys.readouterr().err


def _copy_checkpoint(source, target, keep):
    """Save the variables of checkpoint ``source`` whose names ``keep`` accepts, as ``target``."""
    from nets.tf_compat import tf

    reader = tf.train.load_checkpoint(source)
    with tf.Graph().as_default():
        variables = [
            tf.Variable(reader.get_tensor(name), name=name)
            for name in sorted(reader.get_variable_to_shape_map())
            if keep(name)
        ]
        with tf.Session() as session:
            session.run(tf.variables_initializer(variables))
            return tf.train.Saver(variables).save(session, str(target))


def test_only_the_head_may_be_missing_from_the_starting_checkpoint(tmp_path):
    from gradcam.checkpoints import default_checkpoint
    from gradcam.finetune import finetune

    source = default_checkpoint(NETWORKS["efficientnet_lite0"])
    data = script("make_marked_dataset").make_marked_dataset(tmp_path / "data", 2, seed=2)
    dropped = "efficientnet_lite0/block_3/expand/BatchNorm/moving_mean"
    no_backbone_part = _copy_checkpoint(source, tmp_path / "part.ckpt", lambda n: n != dropped)
    with pytest.raises(
        UserError,
        match=f"lacks {dropped}: only the head "
        r"\(efficientnet_lite0/logits\) may be new",
    ):
        finetune(data, tmp_path / "refused", checkpoint=no_backbone_part, steps=1)
    assert not (tmp_path / "refused").exists()
    no_head = _copy_checkpoint(
        source, tmp_path / "backbone.ckpt", lambda n: not n.startswith("efficientnet_lite0/logits/")
    )
    result = finetune(data, tmp_path / "mine", checkpoint=no_head, steps=1)
    assert result.class_names == ["marked", "plain"] and Path(result.checkpoint + ".index").exists()


def test_train_scopes_train_exactly_those_layers_too(trained, tmp_path):
    """--train-scopes block_15: its weights move, block_14 and the batch-norm statistics do not."""
    from gradcam.checkpoints import default_checkpoint
    from gradcam.finetune import finetune
    from nets.tf_compat import tf

    root = trained[0]
    result = finetune(
        root / "train",
        tmp_path / "deeper",
        steps=3,
        batch_size=8,
        train_scopes=["efficientnet_lite0/block_15"],
    )
    assert not result.cached_features  # every step runs the whole network
    before = tf.train.load_checkpoint(default_checkpoint(NETWORKS["efficientnet_lite0"]))
    after = tf.train.load_checkpoint(result.checkpoint)

    def moved(name):
        return not np.array_equal(before.get_tensor(name), after.get_tensor(name))

    assert moved("efficientnet_lite0/block_15/project/weights")
    assert moved("efficientnet_lite0/block_15/depthwise/BatchNorm/gamma")
    assert not moved("efficientnet_lite0/block_15/depthwise/BatchNorm/moving_mean")
    assert not moved("efficientnet_lite0/block_14/project/weights")
    with pytest.raises(UserError, match="names no variables"):
        finetune(
            root / "train", tmp_path / "bad", steps=1, train_scopes=["efficientnet_lite0/block_99"]
        )
