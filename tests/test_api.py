"""The public API at the package top: ``gradcam.Model``, ``gradcam.explain`` and ``Explanation``;
images given every way a user has them; classes by name; outputs that round-trip; networks of your
own without registration; where files go; which imports stay free of TensorFlow."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gradcam
import gradcam.nets
from gradcam import checkpoints
from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.visualize import overlay
from nets.nets_factory import NETWORKS, NetworkSpec, register_network

from conftest import photo

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cat_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "cat.png"
    Image.fromarray(photo("chelsea")).save(path)
    return path


def test_top_level_names_are_the_api_and_stay_functions(lite0, cat_png):
    assert gradcam.Model is __import__("gradcam.model", fromlist=["Model"]).Model
    result = gradcam.explain(lite0, cat_png, "tiger cat")
    assert isinstance(result, gradcam.Explanation)
    assert callable(gradcam.explain) and gradcam.explain is explain  # not shadowed by a module
    assert gradcam.load_image(cat_png).shape == photo("chelsea").shape
    # networks of your own without the top-level ``nets`` name: the same objects, one registry
    assert gradcam.NetworkSpec is NetworkSpec and gradcam.nets.NetworkSpec is NetworkSpec
    assert gradcam.nets.NETWORKS is NETWORKS and gradcam.nets.register_network is register_network
    assert result.score == gradcam.Score()


def test_images_given_every_way_explain_the_same(lite0, cat_png):
    photo_array = photo("chelsea")
    network_input = lite0.prepare(photo_array)
    ways = [cat_png, str(cat_png), [cat_png], Image.open(cat_png), photo_array, network_input[None]]
    results = [explain(lite0, way, 282) for way in ways]
    for result in results[1:]:
        np.testing.assert_array_equal(result.images, results[0].images)
        np.testing.assert_allclose(result.map, results[0].map, atol=1e-6)
    np.testing.assert_array_equal(results[0].images[0], network_input)
    two = explain(lite0, [cat_png, photo("coffee")], ["tiger cat", "espresso"])
    assert two.target.tolist() == [282, 967]


def test_targets_by_name_index_list_and_top_class(lite0, cat_png):
    by_name = explain(lite0, cat_png, "Egyptian cat")
    by_index = explain(lite0, cat_png, 285)
    np.testing.assert_array_equal(by_name.map, by_index.map)
    several = explain(lite0, cat_png, ["tiger cat", 285])  # one image, two classes: two rows
    assert several.target.tolist() == [282, 285] and len(several.images) == 2
    np.testing.assert_allclose(several.map[1], by_index.map[0], atol=1e-6)
    top = explain(lite0, cat_png)
    assert top.target[0] == int(np.argmax(top.logits[0]))
    with pytest.raises(UserError, match="need one target per image"):
        explain(lite0, [cat_png, cat_png, cat_png], [282, 285])
    with pytest.raises(UserError, match="did you mean"):
        explain(lite0, cat_png, "tabby kat")


def test_explanation_top_k_overlay_and_saved_files_round_trip(lite0, cat_png, tmp_path):
    result = explain(lite0, cat_png, ["tiger cat", "Egyptian cat"])
    shifted = np.exp(result.logits[0].astype(np.float64) - result.logits[0].max())
    probabilities = shifted / shifted.sum()
    order = np.argsort(-probabilities)[:3]
    top = result.top_k(3)
    assert [row["index"] for row in top] == order.tolist()
    assert top[0]["label"] == lite0.label(order[0])
    np.testing.assert_allclose([row["probability"] for row in top], probabilities[order], rtol=1e-5)
    np.testing.assert_array_equal(
        result.overlay(1, "shading"), overlay(result.images[1], result.map[1], "shading")
    )
    png = result.save(tmp_path / "one.png", i=0)
    np.testing.assert_array_equal(np.asarray(Image.open(png)), result.overlay(0))
    both = np.asarray(Image.open(result.save(tmp_path / "both.png")))
    assert both.shape == (224, 448, 3)
    one = np.load(result.save(tmp_path / "one.npz", i=1))
    assert int(one["target"]) == 285 and one["logits"].shape == (1000,)
    np.testing.assert_array_equal(one["map"], result.map[1])
    np.testing.assert_array_equal(one["lowres"], result.lowres[1])
    np.testing.assert_array_equal(one["input"], result.images[1])
    rows = np.load(result.save(tmp_path / "rows.npz"))  # two classes of one image
    assert rows["target"].tolist() == [282, 285] and rows["map"].shape == (2, 224, 224)
    assert rows["logits"].shape == (1000,) and rows["input"].shape == (224, 224, 3)


def test_an_explanation_shows_itself_in_a_notebook(lite0, cat_png, tmp_path):
    """``_repr_png_`` (what Jupyter shows) is the PNG of ``figure()``: the image and the titled
    overlay, the picture ``save_figure`` writes."""
    import io

    result = explain(lite0, cat_png, "tiger cat")
    png = result._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    shown = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    written = np.asarray(Image.open(result.save_figure(tmp_path / "figure.png")).convert("RGB"))
    np.testing.assert_array_equal(shown, written)
    assert shown.shape[1] > 1.8 * shown.shape[0]  # two panels side by side: input, overlay


def test_overlay_may_draw_another_display(lite0, cat_png):
    result = explain(lite0, cat_png, "tiger cat", "gradient")
    assert np.array_equal(result.overlay(0, display="magnitude"), result.overlay(0))
    positive = result.overlay(0, display="positive")
    summed = np.maximum(result.raw[0].sum(axis=-1), 0)
    expected = overlay(result.images[0], summed / summed.max())
    np.testing.assert_allclose(positive.astype(int), expected.astype(int), atol=1)
    assert not np.array_equal(positive, result.overlay(0))


def test_api_errors_name_arguments_the_cli_names_flags(lite0, cat_png):
    with pytest.raises(UserError) as error:
        explain(lite0, cat_png, central_fraction=1.5)
    assert str(error.value).startswith("central_fraction must be in (0, 1]")
    assert error.value.for_command_line().startswith("--central-fraction must be in (0, 1]")
    with pytest.raises(UserError) as error:
        explain(lite0, cat_png, batch_size=0)
    assert "batch_size must be at least 1" in str(error.value)


def test_network_records_are_keyword_only_and_registration_refuses_overwrites():
    fields = dict(
        name="x",
        network_fn=lambda images, n, is_training=False: None,
        preprocessing="raw",
        image_size=8,
        num_classes=1001,
        default_layer="a",
    )
    with pytest.raises(TypeError):
        NetworkSpec(*fields.values())
    assert NetworkSpec(**fields).label_offset == 1  # Slim's background class for 1001 classes
    original = NETWORKS["vgg_16"]
    with pytest.raises(ValueError, match="registered already"):
        register_network(NetworkSpec(**{**fields, "name": "vgg_16"}))
    try:
        assert (
            register_network(NetworkSpec(**{**fields, "name": "vgg_16"}), replace=True).name
            == "vgg_16"
        )
    finally:
        NETWORKS["vgg_16"] = original


def test_a_network_of_your_own_needs_no_registration(tmp_path):
    from methods_toynet import SIZE, make_toy_model, toy_weights

    before = dict(NETWORKS)
    model = make_toy_model(tmp_path, toy_weights(seed=4), name="unregistered_toy")
    assert NETWORKS == before
    image = np.random.default_rng(5).integers(0, 256, (1, SIZE, SIZE, 3)).astype(np.uint8)
    assert explain(model, image).lowres.shape == (1, SIZE, SIZE)
    model.close()


def test_files_go_to_gradcam_home_else_the_checkout_else_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADCAM_HOME", str(tmp_path / "home"))
    assert checkpoints.checkpoint_dir() == tmp_path / "home"
    monkeypatch.delenv("GRADCAM_HOME")
    assert checkpoints.checkpoint_dir() == REPO / "checkpoints"  # running from this checkout
    installed = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (installed / "gradcam").mkdir(parents=True)
    (installed / "pyproject.toml").write_text(
        ""
    )  # even a stray file there does not make a checkout
    (installed / "checkpoints").mkdir()
    monkeypatch.setattr(checkpoints, "_PACKAGE_PARENT", installed)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert checkpoints.checkpoint_dir() == tmp_path / "cache" / "gradcam"


def _imported_after(code):
    """Top-level module names imported by a fresh interpreter running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    return {name.split(".")[0] for name in done.stdout.split()}


def test_the_package_the_cli_and_the_registries_import_no_tensorflow():
    loaded = _imported_after(
        "import gradcam, gradcam.cli, gradcam.methods, gradcam.nets, nets.nets_factory\n"
        "gradcam.cli.build_parser(); gradcam.NetworkSpec, gradcam.Score"
    )
    assert "gradcam" in loaded and "tensorflow" not in loaded and "matplotlib" not in loaded
    assert "gradio" not in loaded and "apache_beam" not in loaded


def test_nets_never_imports_gradcam():
    loaded = _imported_after(
        "from nets.nets_factory import NETWORKS\nfrom nets.tf_compat import tf\n"
        "import nets.efficientnet_lite, nets.resnet_v1, nets.resnet_v2\n"
        "with tf.Graph().as_default():\n"
        "    for name in ('efficientnet_lite0', 'resnet_v2_50', 'inception_v1'):\n"
        "        spec = NETWORKS[name]\n"
        "        spec.build(tf.placeholder(tf.float32, [1, spec.image_size, spec.image_size, 3]))"
    )
    assert "tf_slim" in loaded and "gradcam" not in loaded


@pytest.mark.parametrize(
    "command,module,extra", [("serve", "gradio", "app"), ("beam", "apache_beam", "beam")]
)
def test_a_command_without_its_extra_names_the_pip_install(
    command, module, extra, monkeypatch, capsys, tmp_path
):
    """(The wheel test checks the same in a real environment without the extras.)"""
    import importlib.util

    from gradcam.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )
    argv = [command] + (["nowhere/", "--out", str(tmp_path / "out")] if command == "beam" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f'pip install "gradcam-slim[{extra}]"' in err
    assert not (tmp_path / "out").exists()
