"""gradcam trust: each metric against an independent numpy computation on the toy network of
tests/methods_toynet.py, randomisation of a Keras model file (weights that are graph constants)
with its logits back bit-exactly, bad input reported in its cell with the card still written, the
card in headless chromium, the command on a Keras file, and (slow) the paper's findings on the
embedded EfficientNet-Lite0."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage
from PIL import Image, ImageFilter
from static_pages import CHROMIUM_ARGS

import gradcam
from gradcam import postprocess
from gradcam.cli import main as cli_main
from gradcam.evaluation.collage import benchmark_photos
from gradcam.fetch_keys import ACTIVATIONS, LAYER_GRADIENTS, LOGITS
from gradcam.method_trust import Budget
from gradcam.method_trust.faithfulness import clearly_above, srg, srg_curves
from gradcam.method_trust.focus import focus_check, make_mosaics
from gradcam.method_trust.maps import method_maps
from gradcam.method_trust.randomization import (
    cascade,
    emprt,
    map_entropy,
    randomization_check,
    weight_groups,
)
from gradcam.methods import METHODS, Attribution, Cost, register
from gradcam.methods.cam_math import gradcam_weights, weighted_sum
from gradcam.model import Model
from gradcam.score import LOGIT
from nets.tf_compat import tf

from methods_toynet import SIZE, backward, forward, make_toy_model, toy_fixtures

ROOT = Path(__file__).resolve().parent.parent
weights, toy, images = toy_fixtures("toy_trust", 5, 6, rows=4)
TINY = Budget(
    name="tiny",
    max_images=None,
    options="smoke",
    randomization_images=None,
    randomization_depths=None,
    srg_steps=4,
    faithfulness_images=None,
    focus_mosaics=2,
)


def softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# -- metrics vs numpy ----------------------------------------------------------------------
def test_srg_curves_equal_numpy_pixel_flipping(toy, weights, images):
    image = images[0]
    target = 2
    saliency = np.random.default_rng(3).random((SIZE, SIZE))  # distinct values: no ties
    fill = np.asarray(
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(5)
        ),
        np.float32,
    )

    def probability(batch):
        return toy.fetch(batch, keys=["probabilities"])["probabilities"][:, target]

    morf, lerf = srg_curves(probability, image, [saliency], steps=8)
    counts = np.round(np.linspace(0, SIZE * SIZE, 9)).astype(int)
    expected = {}
    for name, order in (
        ("morf", np.argsort(-saliency.ravel())),
        ("lerf", np.argsort(saliency.ravel())),
    ):
        copies = []
        for k in counts:
            flat = image.reshape(-1, 3).copy()
            flat[order[:k]] = fill.reshape(-1, 3)[order[:k]]
            copies.append(flat.reshape(image.shape))
        expected[name] = softmax(forward(weights, np.stack(copies))["logits"])[:, target]
    np.testing.assert_allclose(morf[0], expected["morf"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(lerf[0], expected["lerf"], rtol=1e-4, atol=1e-6)
    area = lambda c: np.sum((c[1:] + c[:-1]) / 2) / (len(c) - 1)  # noqa: E731
    assert srg(morf[0], lerf[0]) == pytest.approx(area(expected["lerf"]) - area(expected["morf"]))


def test_focus_share_equals_numpy_on_mosaics(toy, weights, images):
    labels = [0, 0, 1, 1]
    made = make_mosaics(np.clip(images, 0, 255).astype(np.uint8), labels, 2, seed=4)
    result = focus_check(
        toy, np.clip(images, 0, 255).astype(np.uint8), labels, ["gradient"], {}, mosaics=2, seed=4
    )
    half = SIZE // 2
    for mosaic, got in zip(made, result.scores["gradient"]):
        grad = backward(weights, mosaic.image[None].astype(np.float64), np.array([mosaic.target]))[
            "grad_x"
        ][0]
        total = np.abs(grad).sum(-1)
        total = np.minimum(total, np.percentile(total, 99))
        tiles = [total[:half, :half], total[:half, half:], total[half:, :half], total[half:, half:]]
        share = sum(tiles[t].sum() for t in mosaic.target_tiles) / total.sum()
        assert got == pytest.approx(share, rel=1e-4)
        # the two target tiles really are the target class's images
        assert sorted(labels[mosaic.sources[t]] for t in mosaic.target_tiles) == [mosaic.target] * 2


def numpy_entropy(saliency, bins=100):
    v = np.abs(saliency).ravel()
    scaled = (v - v.min()) / (v.max() - v.min())
    index = np.minimum((scaled * bins).astype(int), bins - 1)
    p = np.bincount(index, minlength=bins) / v.size
    p = p[p > 0]
    return -(p * np.log(p)).sum()


def test_emprt_entropy_equals_numpy_on_the_randomised_toy(toy, weights, images):
    targets = toy.predict(images).argmax(1)
    trained = np.abs(backward(weights, images.astype(np.float64), targets)["grad_x"])
    for m in trained.sum(-1):
        assert map_entropy(m) == pytest.approx(numpy_entropy(m), rel=1e-9)
    before = toy.predict(images)
    with cascade(toy, seed=2) as steps:
        randomized = list(steps)[-1][1]  # every layer group re-drawn
        with toy.graph.as_default():
            drawn = {v.op.name.split("/", 1)[1]: v for v in tf.global_variables()}
        values = {k: randomized.session.run(v) for k, v in drawn.items()}
        library = method_maps(randomized, images, targets, ["gradient"], {})["gradient"].absolute
    random_grad = np.abs(backward(values, images.astype(np.float64), targets)["grad_x"]).sum(-1)
    np.testing.assert_allclose(library, random_grad, rtol=1e-3, atol=1e-6)
    expected = np.mean([numpy_entropy(m) for m in random_grad]) / np.mean(
        [numpy_entropy(m) for m in trained.sum(-1)]
    )
    original = method_maps(toy, images, targets, ["gradient"], {})["gradient"].absolute
    assert emprt(original, library) == pytest.approx(expected, rel=1e-3)
    np.testing.assert_array_equal(toy.predict(images), before)  # variables restored exactly


# -- bad input: reported in its cell, card still written --------------------------------------
def test_bad_input_is_reported_in_its_cell_and_the_card_is_written(tmp_path, weights, images):
    headless = make_toy_model(tmp_path, weights, name="toy_trust_nohead", head=False)
    try:
        card = gradcam.trust(
            headless, images[:2], ["cam", "grad_cam", "gradient"], budget=TINY, out=tmp_path / "t"
        )
    finally:
        headless.close()
    data = json.loads((tmp_path / "t" / "trust.json").read_text())
    cam = data["methods"]["cam"]
    assert cam["verdict"] == "fail" and "global average pooling" in cam["error"]
    for name in ("grad_cam", "gradient"):
        cell = data["methods"][name]["faithfulness"]
        assert cell["verdict"] is None and "at least 3 images, got 2" in cell["error"]
        assert data["methods"][name]["randomization"]["verdict"] in ("pass", "warn", "fail")
        assert data["methods"][name]["focus"] is None
    assert "no labels" in data["skipped"]["focus"]
    assert (tmp_path / "t" / "trust.html").is_file()
    lines = card.lines()
    assert lines[0].startswith("cam: cannot run on this model (CAM needs")
    assert any(line.startswith("focus: skipped, no labels") for line in lines)


def test_focus_needs_two_images_of_a_class_and_two_of_others(toy, images):
    result = focus_check(toy, images.astype(np.uint8), [0, 1, 2, 3], ["gradient"], {}, mosaics=2)
    assert result.skipped.startswith("needs two images of one class")


def test_clearly_above_needs_margin_and_two_standard_errors():
    assert clearly_above([0.1, 0.12, 0.11])
    assert not clearly_above([0.3, -0.2, 0.1])  # mean 0.067 < 2 SE
    assert not clearly_above([0.005, 0.006, 0.004])  # below the margin


# -- the card in a browser ------------------------------------------------------------------
def test_card_opens_in_headless_chromium(tmp_path, toy, images):
    from playwright.sync_api import sync_playwright

    card = gradcam.trust(toy, images, ["grad_cam", "gradient"], budget=TINY, out=tmp_path)
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed: apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((tmp_path / "trust.html").as_uri())
        rows = page.locator("#card tr").count()
        loaded = page.evaluate(
            "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
        )
        text = page.inner_text("#card")
        browser.close()
    assert rows == 1 + len(card.methods)
    assert loaded and all(loaded)  # sample maps and the randomisation figure load from disk
    assert "grad_cam" in text and card.verdict("grad_cam") in text


# -- a Keras model file: weights are graph constants -------------------------------------------
@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("trust_keras") / "classifier.keras"
    subprocess.run(
        [sys.executable, str(ROOT / "tests" / "trust_keras_model.py"), str(path)],
        check=True,
        cwd=ROOT / "tests",
        capture_output=True,
    )
    return path


@pytest.fixture(scope="module")
def keras_model(keras_file):
    model = Model(keras_file)
    yield model
    model.close()


def test_keras_randomisation_changes_logits_and_restores_them_bit_exactly(keras_model):
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    before = keras_model.predict(x)
    groups = weight_groups(keras_model)
    assert list(groups) == [
        "classifier/head",
        "classifier/backbone/c3",
        "classifier/backbone/c2",
        "classifier/backbone/c1",
    ]
    assert [len(g) for g in groups.values()] == [2, 2, 2, 2]  # kernel and bias of each layer
    seen = []
    with cascade(keras_model, seed=0) as steps:
        for name, randomized in steps:
            logits = randomized.predict(x)
            assert not np.allclose(logits, before), name
            assert not any(np.array_equal(logits, s) for s in seen)  # each step changes more
            seen.append(logits)
            # the view's CAM head follows the randomised head weights
            head = randomized.fetch(x, keys=["head_weights"])["head_weights"]
            original_head = keras_model.fetch(x, keys=["head_weights"])["head_weights"]
            assert not np.allclose(head, original_head)
    np.testing.assert_array_equal(keras_model.predict(x), before)


def test_keras_randomisation_check_runs_on_the_file(keras_model):
    x = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3)).astype(np.uint8)
    targets = keras_model.predict(x).argmax(1)
    originals = method_maps(keras_model, x, targets, ["grad_cam", "gradient"], {})
    result = randomization_check(
        keras_model, x, targets, originals, ["grad_cam", "gradient"], {}, depths=None
    )
    assert result.kind == "constants" and result.groups == 4
    assert len(result.curves["grad_cam"]) == 4
    assert result.curves["gradient"][-1]["spearman"] < 0.99


def test_trust_command_on_a_keras_file(tmp_path, keras_file, capsys):
    data = tmp_path / "photos"
    data.mkdir()
    rng = np.random.default_rng(2)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3)).astype(np.uint8)).save(data / f"{i}.png")
    status = cli_main(
        [
            "trust",
            str(data),
            "--out",
            str(tmp_path / "trust"),
            "--model-file",
            str(keras_file),
            "--methods",
            "grad_cam,gradient,cam",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    card = json.loads((tmp_path / "trust" / "trust.json").read_text())
    assert set(card["methods"]) == {"grad_cam", "gradient", "cam"} and card["images"] == 4
    assert card["protocol"]["randomization"]["weights"] == "constants"
    for name in card["methods"]:
        assert any(
            line.startswith(f"{name}: ") and line.endswith(card["methods"][name]["verdict"])
            for line in out.splitlines()
        )


def test_trust_command_refuses_a_missing_folder(tmp_path, capsys):
    assert cli_main(["trust", str(tmp_path / "nothing"), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a folder of images" in err
    assert not (tmp_path / "t").exists()


# -- the paper's findings on the embedded EfficientNet-Lite0 -----------------------------------
@pytest.fixture(scope="module")
def test_methods():
    """A method whose maps are random numbers and a blurred copy of Grad-CAM, registered for this
    module only."""

    @register("test_random_map", display="positive", title="random numbers", cost=Cost("forward"))
    def random_map(model, images, target, layer=None, batch_size=32, score=LOGIT, seed=0):
        noise = np.random.default_rng(seed).random(
            (len(images), model.image_size, model.image_size)
        )
        return Attribution(raw=noise.astype(np.float32), logits=model.predict(images, batch_size))

    @register(
        "test_blurred_grad_cam",
        display="positive",
        title="blurred Grad-CAM",
        cost=Cost("fwd_bwd_layer"),
    )
    def blurred_grad_cam(model, images, target, layer=None, batch_size=32, score=LOGIT):
        out = model.fetch(
            images,
            target,
            [LOGITS, ACTIVATIONS, LAYER_GRADIENTS],
            layer,
            batch_size,
            score=score,
        )
        lowres = weighted_sum(out[ACTIVATIONS], gradcam_weights(out[LAYER_GRADIENTS]))
        full = postprocess.evidence(lowres, "positive", model.image_size)
        sigma = 0.125 * model.image_size
        return Attribution(
            raw=np.stack([scipy.ndimage.gaussian_filter(m, sigma) for m in full]),
            logits=out[LOGITS],
        )

    yield
    METHODS.pop("test_random_map")
    METHODS.pop("test_blurred_grad_cam")


@pytest.fixture(scope="module")
def lite0_card(lite0, test_methods, tmp_path_factory):
    photos = [lite0.prepare(p) for p in benchmark_photos().values()]
    batch = np.stack(photos + [p[:, ::-1] for p in photos])  # each photo and its mirror image
    labels = list(lite0.predict(batch).argmax(1))
    budget = Budget(
        name="test",
        max_images=None,
        options="smoke",
        randomization_images=4,
        randomization_depths=3,
        srg_steps=6,
        faithfulness_images=8,
        focus_mosaics=4,
    )
    methods = ["grad_cam", "guided_backprop", "test_random_map", "test_blurred_grad_cam"]
    return gradcam.trust(
        lite0, batch, methods, labels=labels, budget=budget, out=tmp_path_factory.mktemp("lite0")
    )


@pytest.mark.slow
def test_lite0_guided_backprop_fails_randomisation_grad_cam_passes(lite0_card):
    assert lite0_card.methods["guided_backprop"].cells["randomization"]["verdict"] == "fail"
    assert lite0_card.methods["grad_cam"].cells["randomization"]["verdict"] == "pass"


@pytest.mark.slow
def test_lite0_random_map_fails_faithfulness(lite0_card):
    cell = lite0_card.methods["test_random_map"].cells["faithfulness"]
    assert cell["verdict"] == "fail"
    assert lite0_card.methods["grad_cam"].cells["faithfulness"]["verdict"] != "fail"


@pytest.mark.slow
def test_lite0_blurred_grad_cam_not_scored_above_grad_cam(lite0_card):
    order = ("fail", "warn", "pass")
    blurred = lite0_card.methods["test_blurred_grad_cam"].cells["faithfulness"]
    plain = lite0_card.methods["grad_cam"].cells["faithfulness"]
    assert not clearly_above(np.subtract(blurred["per_image"], plain["per_image"]))
    assert order.index(blurred["verdict"]) <= order.index(plain["verdict"])


# -- docs/trust.md, as written ---------------------------------------------------------------
def doc_blocks(language):
    text = (ROOT / "docs" / "trust.md").read_text()
    return [b.split("\n", 1)[1] for b in text.split("```")[1::2] if b.startswith(language)]


def doc_commands():
    return [line for line in doc_blocks("\n")[0].splitlines() if line.startswith("gradcam trust")]


@pytest.fixture
def doc_folder(tmp_path, keras_file, monkeypatch):
    """A working directory with photos/ (five random photos) and my_model.keras."""
    shutil.copy(keras_file, tmp_path / "my_model.keras")
    (tmp_path / "photos").mkdir()
    rng = np.random.default_rng(7)
    for i in range(5):
        pixels = rng.integers(0, 256, (60, 50, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / "photos" / f"p{i}.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_docs_commands_as_written(doc_folder):
    command = doc_commands()[0]
    assert "--model-file my_model.keras" in command
    assert cli_main(command.split()[1:]) == 0
    assert json.loads(Path("trust/trust.json").read_text())["images"] == 5
    shutil.rmtree("trust")
    exec(doc_blocks("python")[0], {})  # the Python API example
    card = json.loads(Path("trust/trust.json").read_text())
    assert set(card["methods"]) == {"grad_cam", "gradient"}


@pytest.mark.slow
def test_docs_lite0_command_as_written(doc_folder, cli):
    command = doc_commands()[1]
    assert cli(command.split()[1:]) == 0  # the session's Lite0 answers the default --model
    card = json.loads(Path("trust/trust.json").read_text())
    assert set(card["methods"]) == {"grad_cam", "guided_backprop"}


def test_command_budget_names_are_the_budgets():
    from gradcam.commands.trust import BUDGET_NAMES
    from gradcam.method_trust.protocol import BUDGETS

    assert BUDGET_NAMES == tuple(BUDGETS)


def test_localisation_with_boxes_against_the_centre_map(tmp_path, toy):
    from synthetic_boxes import write_scene

    name = toy.labels[1]
    places = {
        "centre": (80, 80, 119, 119),
        "corner_a": (0, 0, 39, 39),
        "corner_b": (160, 0, 199, 39),
    }
    paths = [
        write_scene(tmp_path, stem, 200, 200, [(name, box)], seed=i)
        for i, (stem, box) in enumerate(places.items())
    ]
    card = gradcam.trust(
        toy,
        [str(p) for p in paths],
        ["grad_cam", "gradient"],
        boxes=tmp_path / "boxes",
        budget=TINY,
    )
    for method in ("grad_cam", "gradient"):
        cell = card.methods[method].cells["localization"]
        # the centre map's peak is the image centre: inside the centre box only (tolerance 15 px)
        assert cell["centre_control"]["pointing_game_accuracy"] == pytest.approx(1 / 3)
        assert cell["images"] == 3 and cell["verdict"] in ("pass", "warn", "fail")
        wins = sum(
            cell[k] > cell["centre_control"][k]
            for k in ("gt_known_loc_accuracy", "pointing_game_accuracy")
        )
        assert cell["verdict"] == ("fail", "warn", "pass")[wins]
    assert "localization" not in card.skipped
