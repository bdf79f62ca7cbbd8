"""Model files: Keras 3 .keras, Keras 2 .h5 and a TF2 SavedModel of small classifiers with a nested
backbone (built in a subprocess by tests/keras_models.py, random weights, softmax fused in the last
Dense) explain exactly like eager references computed layer by layer under a GradientTape; a
Lambda model is refused before any of its code runs; every broken file is one line, exit 2."""

import json
import os
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gradcam.cli import main
from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.methods import METHODS
from gradcam.model import Model

from conftest import photo
from methods_toynet import forward, make_toy_model, toy_weights

ROOT = Path(__file__).resolve().parent.parent
NESTED = {"k3_nested.keras": "k3", "k2_nested.h5": "k2", "k3_saved_model": "k3"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The model files and references, made by an eager TensorFlow in its own process."""
    out = tmp_path_factory.mktemp("keras_models")
    subprocess.run(
        [sys.executable, str(ROOT / "tests" / "keras_models.py"), str(out)],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def ref(files):
    return dict(np.load(files / "references.npz"))


@pytest.fixture(scope="module")
def k3(files):
    model = Model(files / "k3_nested.keras")
    yield model
    model.close()


def _png(files, ref, i=0):
    path = files / f"image{i}.png"
    Image.fromarray(ref["images"][i].astype(np.uint8)).save(path)
    return path


def _error_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradcam: error: "), err
    return err


@pytest.mark.parametrize("name", sorted(NESTED))
def test_nested_classifier_equals_eager_reference(files, ref, name):
    key = NESTED[name]
    model = Model(str(files / name))  # a path given as a string: not a registered network name
    assert (model.image_size, model.num_classes, model.activation) == (32, 5, "softmax")
    assert model.default_layer == "backbone/c3"  # the map the global pooling reads, found
    images, targets = ref["images"], ref["targets"]
    result = explain(model, images, targets)
    np.testing.assert_allclose(result.logits, ref[f"{key}_logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.probabilities, ref[f"{key}_probabilities"], atol=1e-6)
    scale = np.abs(ref[f"{key}_grad_cam_c3"]).max()
    np.testing.assert_allclose(result.lowres, ref[f"{key}_grad_cam_c3"], atol=1e-5 * scale)
    nested = explain(model, images, targets, layer="backbone/c2")  # a layer inside the backbone
    scale = np.abs(ref[f"{key}_grad_cam_c2"]).max()
    np.testing.assert_allclose(nested.lowres, ref[f"{key}_grad_cam_c2"], atol=1e-5 * scale)
    guided = model.fetch(images, targets, ["guided_input_gradients"])["guided_input_gradients"]
    scale = np.abs(ref[f"{key}_guided"]).max()
    np.testing.assert_allclose(guided, ref[f"{key}_guided"], atol=1e-5 * scale)
    cam = explain(model, images, targets, "cam")  # head weights found: Dense after GAP
    expected = np.einsum(
        "nhwc,cn->nhw",
        model.fetch(images, targets, ["activations"])["activations"],
        ref[f"{key}_head_kernel"][:, targets],
    )
    np.testing.assert_allclose(cam.lowres, expected, rtol=1e-5, atol=1e-6)
    model.close()


def test_tensor_name_reaches_the_same_layer_as_its_path(files, ref):
    model = Model.from_file(files / "k3_saved_model")
    (relu,) = [op.name for op in model.graph.get_operations() if op.name.endswith("/c2_1/Relu")]
    by_name = explain(model, ref["images"], ref["targets"], layer=relu.removeprefix("imported/"))
    by_path = explain(model, ref["images"], ref["targets"], layer="backbone/c2")
    np.testing.assert_allclose(by_name.lowres, by_path.lowres, rtol=1e-5, atol=1e-9)
    with pytest.raises(UserError, match="unknown layer 'backbone/c9'"):
        explain(model, ref["images"], ref["targets"], layer="backbone/c9")
    model.close()
    model = Model.from_file(files / "k3_nested.keras", layer_tensor="backbone/c2")  # new default
    assert model.default_layer == "backbone/c2"
    np.testing.assert_allclose(
        explain(model, ref["images"], ref["targets"]).lowres, by_path.lowres, rtol=1e-5, atol=1e-9
    )
    model.close()


def test_input_without_fixed_size_takes_image_size(files, ref):
    with pytest.raises(UserError, match="has no fixed size: pass image_size"):
        Model(files / "free_size.keras")
    model = Model.from_file(files / "free_size.keras", image_size=40)
    assert model.image_size == 40 and model.layer_shapes["conv"] == (20, 20, 4)
    photo = ref["images"][0].astype(np.uint8)  # a photo: prepared (resized) to 40 x 40
    assert explain(model, photo, 0).lowres.shape == (1, 20, 20)
    model.close()


def test_sigmoid_head_is_explained_per_unit(files, ref):
    """A separate sigmoid Activation layer: logits are its input, probabilities each unit's
    sigmoid (not a softmax); its swish convs get no guided rule, and the model says so once."""
    model = Model(files / "k3_multilabel.keras")
    assert (model.activation, model.num_classes, model.default_layer) == ("sigmoid", 3, "s2")
    assert model.unguided == ("sigmoid/swish",)
    images, targets = ref["images"], ref["targets"] % 3
    result = explain(model, images, targets)
    np.testing.assert_allclose(result.logits, ref["multilabel_logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.probabilities, ref["multilabel_probabilities"], atol=1e-6)
    assert abs(result.probabilities.sum(axis=1) - 1).max() > 0.1  # not a softmax
    top = result.top_k(3, 0)
    assert [row["probability"] for row in top] == pytest.approx(
        sorted(ref["multilabel_probabilities"][0], reverse=True), abs=1e-6
    )
    scale = np.abs(ref["multilabel_grad_cam_s2"]).max()
    np.testing.assert_allclose(result.lowres, ref["multilabel_grad_cam_s2"], atol=1e-5 * scale)
    with pytest.warns(UserWarning, match="sigmoid/swish pass plain gradients"):
        guided = model.fetch(images, targets, ["guided_input_gradients"])["guided_input_gradients"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per model
        plain = model.fetch(images, targets, ["input_gradients"])["input_gradients"]
        again = model.fetch(images, targets, ["guided_input_gradients"])["guided_input_gradients"]
    tolerance = 1e-6 * np.abs(plain).max()  # same values up to float summation order
    np.testing.assert_allclose(guided, plain, atol=tolerance)  # no ReLU: no guided rule anywhere
    np.testing.assert_allclose(again, guided, atol=tolerance)
    model.close()


def test_relu_models_get_the_guided_rule(k3, ref):
    out = k3.fetch(ref["images"], ref["targets"], ["input_gradients", "guided_input_gradients"])
    assert k3.unguided == ()
    assert not np.allclose(out["input_gradients"], out["guided_input_gradients"])


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_on_a_nested_keras_model(k3, ref, method):
    options = dict(METHODS[method].smoke)
    if method == "occlusion":
        options.update(patch=16, stride=16)
    if method == "xrai":
        options.update(scales=(30,))
    result = explain(k3, ref["images"][:1], 1, method, **options)
    assert result.map.shape == (1, 32, 32) and np.isfinite(result.map).all()
    # Score-CAM weighs channels by the gain over a black image; random weights may give none.
    assert not result.degenerate[0] or method == "score_cam"


@pytest.mark.parametrize("name", ["lambda_k2.h5", "lambda_k3.keras"])
def test_lambda_model_is_refused_without_running_it(files, ref, capsys, name):
    marker = files / f"marker_{name.split('_')[1].split('.')[0]}"
    err = _error_line(
        capsys,
        [
            "explain",
            str(_png(files, ref)),
            "--model-file",
            str(files / name),
            "--output",
            str(files / "refused.png"),
        ],
    )
    assert f"{name}: layer 'touch' is a Lambda layer" in err and "--trust-model-code" in err
    assert not marker.exists() and not (files / "refused.png").exists()
    model = Model(files / name, trust_code=True)  # trusted: its stored code runs
    assert marker.exists()
    marker.unlink()
    assert explain(model, ref["images"][:1], 0).map.shape == (1, 32, 32)
    model.close()


def test_saved_model_with_a_lambda_runs_no_python(files, ref):
    """A SavedModel's functions are graphs: tf.saved_model.load rebuilds no Python layer, so the
    Lambda's bytecode does not run (and needs no trust)."""
    model = Model(files / "lambda_saved_model")
    result = explain(model, ref["images"][:2], [0, 1])
    assert result.lowres.shape == (2, 30, 30) and not (files / "marker_k3").exists()
    model.close()


def _broken_files(files):
    k3 = (files / "k3_nested.keras").read_bytes()
    h5 = (files / "k2_nested.h5").read_bytes()
    (files / "truncated.keras").write_bytes(k3[: len(k3) // 2])
    (files / "truncated.h5").write_bytes(h5[: len(h5) // 3])
    (files / "text.keras").write_text("not a model\n")
    (files / "noise.pb").write_bytes(np.random.default_rng(0).bytes(300))
    (files / "empty.h5").write_bytes(b"")
    (files / "folder").mkdir(exist_ok=True)


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "truncated.keras",
            "truncated.keras is not a readable .keras archive (truncated or corrupt zip)",
        ),
        ("truncated.h5", "truncated.h5 is not a readable HDF5 file (truncated or corrupt)"),
        ("text.keras", "text.keras is neither an HDF5 (.h5) nor a zip (.keras) Keras model file"),
        ("noise.pb", "noise.pb is not a frozen GraphDef (.pb) file"),
        ("empty.h5", "empty.h5 is empty"),
        ("folder", "folder is not a SavedModel directory (no saved_model.pb)"),
        ("missing.keras", "model file not found:"),
        ("weights_only.weights.h5", "holds no model config (a weights-only file?)"),
        ("no_signature", "has no usable serving signature (signatures: none)"),
        (
            "two_inputs.keras",
            "two_inputs.keras: the model has 2 inputs; only models with one image input",
        ),
        (
            "two_outputs.keras",
            "two_outputs.keras: the model has several outputs; only single-output",
        ),
        (
            "vector_input.keras",
            "the model's input is float32 ?x10; need a float image input N x H x W x 3",
        ),
    ],
)
def test_unusable_files_are_one_line(files, ref, capsys, name, message):
    _broken_files(files)
    err = _error_line(capsys, ["explain", str(_png(files, ref)), "--model-file", str(files / name)])
    assert message in err


def test_cli_explains_with_no_layer_named(files, ref, capsys):
    """`gradcam explain photo --model-file m.keras` as docs/your-model.md writes it: default layer found
    and printed; NPZ logits are pre-softmax and lowres the raw weighted sum at the layer."""
    png, out = _png(files, ref), files / "cli.png"
    status = main(
        [
            "explain",
            str(png),
            "--model-file",
            str(files / "k3_nested.keras"),
            "--class",
            str(ref["targets"][0]),
            "--save-npz",
            "--json",
            "--output",
            str(out),
        ]
    )
    assert status == 0
    record = json.loads(capsys.readouterr().out)
    assert record["model"] == "k3_nested.keras" and out.exists()
    arrays = np.load(out.with_suffix(".npz"))
    np.testing.assert_allclose(arrays["logits"], ref["k3_logits"][0], rtol=1e-5, atol=1e-6)
    scale = np.abs(ref["k3_grad_cam_c3"][0]).max()
    np.testing.assert_allclose(arrays["lowres"], ref["k3_grad_cam_c3"][0], atol=1e-5 * scale)
    assert (
        main(
            [
                "explain",
                str(png),
                "--model-file",
                str(files / "k2_nested.h5"),
                "--layer",
                "backbone/c2",
                "--class",
                str(ref["targets"][0]),
                "--save-npz",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    scale = np.abs(ref["k2_grad_cam_c2"][0]).max()
    np.testing.assert_allclose(
        np.load(out.with_suffix(".npz"))["lowres"], ref["k2_grad_cam_c2"][0], atol=1e-5 * scale
    )


def test_list_layers_marks_the_default(files, capsys):
    assert main(["list", "layers", "--model-file", str(files / "k3_nested.keras")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        "k3_nested.keras: input 32x32x3 (preprocessing raw), 5 classes, softmax head"
    )
    shapes = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    # valid 3x3 convolutions of 32 px: c1 30, c2 (stride 2) (30 - 3) // 2 + 1 = 14, c3 12
    assert shapes["backbone/c1"] == ["30x30x8"] and shapes["backbone/c2"] == ["14x14x8"]
    assert shapes["backbone/c3"] == ["12x12x16", "(default)"]


def test_class_names_from_a_label_file(files, ref, capsys):
    labels = files / "labels.txt"
    labels.write_text(
        "".join(f"{i}:{name}\n" for i, name in enumerate(["cat", "dog", "fox", "owl", "eel"]))
    )
    status = main(
        [
            "explain",
            str(_png(files, ref)),
            "--model-file",
            str(files / "k3_nested.keras"),
            "--labels",
            str(labels),
            "--class",
            "fox",
            "--json",
            "--output",
            str(files / "named.png"),
        ]
    )
    assert status == 0
    target = json.loads(capsys.readouterr().out)["targets"][0]
    assert (target["index"], target["label"]) == (2, "fox")


@pytest.mark.beam  # beam among the other commands
def test_other_commands_take_a_model_file(files, ref, tmp_path, capsys):
    model = ["--model-file", str(files / "k3_nested.keras")]
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(ref["images"][i].astype(np.uint8)).save(folder / f"image{i}.png")
    assert (
        main(["batch", str(folder), "--out", str(tmp_path / "batch"), "--no-progress", *model]) == 0
    )
    lines = [
        json.loads(line) for line in (tmp_path / "batch" / "results.jsonl").read_text().splitlines()
    ]
    assert sorted(r["path"].rsplit("/", 1)[1] for r in lines) == ["image0.png", "image1.png"]
    first = next(r for r in lines if r["path"].endswith("image0.png"))
    assert first["target"]["index"] == int(np.argmax(ref["k3_logits"][0]))
    assert main(["beam", str(folder), "--out", str(tmp_path / "beam"), *model]) == 0
    assert len((tmp_path / "beam" / "results.jsonl").read_text().splitlines()) == 2
    assert (
        main(
            [
                "compare",
                str(folder / "image0.png"),
                "--methods",
                "grad_cam,gradient",
                "--output",
                str(tmp_path / "compare.png"),
                *model,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "evaluate",
                str(folder / "image0.png"),
                "--steps",
                "4",
                "--out",
                str(tmp_path / "evaluation"),
                *model,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "maximize",
                "--class",
                "2",
                "--steps",
                "3",
                "--output",
                str(tmp_path / "maximize.png"),
                *model,
            ]
        )
        == 0
    )
    assert all((tmp_path / f).exists() for f in ("compare.png", "maximize.png", "evaluation"))
    err = _error_line(capsys, ["explain", str(folder / "image0.png"), "--preprocessing", "raw"])
    assert "--preprocessing goes with --model-file" in err


def test_web_app_serves_a_model_file(files, ref):
    """The app's first model from a file (as `gradcam serve --model-file` sets it up): its top
    classes are the sigmoid head's own probabilities."""
    pytest.importorskip("gradio")
    from gradcam.app import GradcamApp
    from gradcam.model_cache import ModelCache

    cache = ModelCache()
    model = cache.put(Model(files / "k3_multilabel.keras"))
    app = GradcamApp(cache, default_network=model.name)
    try:
        label, _, _ = app.classify(str(_png(files, ref)), model.name)  # chart, target, versus
        expected = ref["multilabel_probabilities"][0]
        assert sorted(label.values(), reverse=True) == pytest.approx(
            sorted(expected, reverse=True), abs=1e-6
        )
        picture, _, downloads = app.explain(
            str(_png(files, ref)), model.name, "grad_cam", "", "heatmap", 0.5
        )
        assert picture.shape == (32, 32, 3) and len(downloads) == 2
    finally:
        app.close()
        model.close()


def test_graph_mode_is_untouched_by_loading_keras(files, tmp_path):
    """Keras files are traced in a local eager block: a Slim model built afterwards has the same
    ops and restores the same weights as one built before (both equal the numpy forward)."""
    weights = toy_weights(seed=3)
    images = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    before = make_toy_model(tmp_path, weights, name="before")
    Model(files / "k3_nested.keras").close()
    Model(files / "k2_nested.h5").close()
    after = make_toy_model(tmp_path, weights, name="after")
    assert after.op_count == before.op_count
    np.testing.assert_allclose(after.predict(images), forward(weights, images)["logits"], rtol=1e-4)
    np.testing.assert_allclose(after.predict(images), before.predict(images), rtol=1e-6)
    before.close()
    after.close()


def _docs_section():
    """docs/your-model.md's section on Keras and SavedModel files (it was the README's)."""
    text = (ROOT / "docs" / "your-model.md").read_text()
    start = text.index("## Your own Keras or SavedModel classifier")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def _blocks(section, language):
    return [
        block.split("\n", 1)[1]
        for block in section.split("```")[1::2]
        if block.split("\n", 1)[0].strip() == language
    ]


def test_docs_section_runs_as_written(tmp_path, monkeypatch, capsys):
    """The docs section's Python file and commands, run as written (the `gradcam` lines through
    the CLI's main, the others in a shell); what it shows `list layers` printing is printed."""
    section = _docs_section()
    (tmp_path / "make_model.py").write_text(_blocks(section, "python")[0])
    Image.fromarray(photo("chelsea")).save(tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    shell_path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    printed = []
    for line in _blocks(section, "bash")[0].replace("\\\n", " ").splitlines():
        if line.startswith("gradcam "):
            assert main(shlex.split(line)[1:]) == 0, line
            printed.append(capsys.readouterr().out)
        else:
            subprocess.run(
                line,
                shell=True,
                check=True,
                cwd=tmp_path,
                capture_output=True,
                env={"PATH": shell_path, "HOME": str(tmp_path)},
            )
    shown = [b for b in section.split("```")[1::2] if b.startswith("\nmy_model.keras: input")][0]
    assert shown.strip().splitlines() == printed[0].strip().splitlines()
    assert "my_model.keras: layer backbone/conv3 (found" in printed[1]
    npz = np.load(tmp_path / "results" / "photo_grad_cam.npz")
    assert npz["lowres"].shape == (31, 31) and int(npz["target"]) == 2  # backbone/conv2, tulip
    assert (tmp_path / "results" / "photo_guided_backprop.png").exists()
