"""A user module registering its own network, explained through the CLI (--register-module)."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from gradcam.cli import main
from nets.tf_compat import tf

from conftest import make_random_checkpoint, photo

EXAMPLE = str(Path(__file__).resolve().parent.parent / "examples" / "my_net.py")


def test_registered_tiny_net_explained_through_cli(tmp_path, capsys):
    from gradcam.commands.common import load_user_modules

    load_user_modules(["--register-module", EXAMPLE])
    checkpoint = make_random_checkpoint("tiny_convnet", tmp_path, seed=3)
    (tmp_path / "labels.txt").write_text("0:circle\n1:square\n2:triangle\n")
    image = tmp_path / "rocket.png"
    Image.fromarray(photo("rocket")).save(image)
    status = main(
        [
            "explain",
            str(image),
            "--register-module",
            EXAMPLE,
            "--model",
            "tiny_convnet",
            "--checkpoint",
            checkpoint,
            "--num-classes",
            "3",
            "--labels",
            str(tmp_path / "labels.txt"),
            "--class",
            "square",
            "--json",
            "--output",
            str(tmp_path / "out.png"),
            "--save-npz",
        ]
    )
    assert status == 0
    record = json.loads(capsys.readouterr().out)
    assert record["targets"][0]["label"] == "square" and record["targets"][0]["index"] == 1
    saved = np.load(record["npz"])

    # Independent check: for GAP + linear head, Grad-CAM at conv2 is sum_k w[k, c] A_k / (h * w).
    from gradcam.model import Model

    model = Model("tiny_convnet", checkpoint, num_classes=3)
    activations = model.fetch(saved["input"][None], keys=["activations"], layer="conv2")[
        "activations"
    ][0]
    weights = tf.train.load_checkpoint(checkpoint).get_tensor("tiny_convnet/logits/weights")
    expected = activations @ weights[:, 1] / (activations.shape[0] * activations.shape[1])
    np.testing.assert_allclose(saved["lowres"], expected, rtol=1e-4, atol=1e-6)
    model.close()


def test_register_module_errors_are_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no such layer')\n")
    assert main(["list", "models", "--register-module", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "broken.py failed: RuntimeError: no such layer" in err
    assert main(["list", "models", "--register-module", str(tmp_path / "missing.py")]) == 2
    assert "missing.py: no such file" in capsys.readouterr().err


def test_checkpoint_with_other_class_count(tmp_path, capsys):
    from gradcam.commands.common import load_user_modules

    load_user_modules(["--register-module", EXAMPLE])
    checkpoint = make_random_checkpoint("tiny_convnet", tmp_path, num_classes=2)
    image = tmp_path / "rocket.png"
    Image.fromarray(photo("rocket")).save(image)
    assert (
        main(
            [
                "explain",
                str(image),
                "--register-module",
                EXAMPLE,
                "--model",
                "tiny_convnet",
                "--checkpoint",
                checkpoint,
                "--output",
                str(tmp_path / "out.png"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradcam: error: ")
    assert "tiny_convnet/logits/weights [16, 2] (model wants [16, 3])" in err
    assert "the checkpoint has 2 classes: pass --num-classes" in err
