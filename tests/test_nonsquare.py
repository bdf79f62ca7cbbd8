"""Non-square inputs through every path: the planted-shortcut data set and model of
scripts/make_planted_shortcut.py at 32 x 48 (``--width 48``; the tag one pixel from the
bottom-right corner). Occlusion equals region-by-region drops computed by hand; RISE's masks are
the drawn grids stretched by hand and its map finds the tag; XRAI and activation maximisation
keep the frame; the audit isolates the tagged images and its hot region is the tag; trust's
quick budget runs Focus on 32 x 48 mosaics of several classes; evaluate's boxes are in the
model's frame; beam equals batch; ``--image-size HxW`` runs a registered network at that size."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gradcam
from gradcam.cli import main
from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.maximize import maximize
from gradcam.method_trust.focus import make_mosaic, tile_masks
from gradcam.methods import rise_math
from gradcam.methods.occlusion import grid_regions

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "make_planted_shortcut.py"
HEIGHT, WIDTH = 32, 48
TAG = (26, 42, 31, 47)  # top, left, bottom, right (exclusive) at 32 x 48
RED = 0


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    out = tmp_path_factory.mktemp("planted_wide")
    subprocess.run(
        [sys.executable, str(SCRIPT), str(out), "--width", str(WIDTH), "--per-class", "24"],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def model(planted):
    model = gradcam.Model(planted / "model.keras", labels=str(planted / "labels.txt"))
    yield model
    model.close()


def tagged(planted):
    return sorted((planted / "tagged.txt").read_text().split())


def pixels(planted, relative):
    return np.asarray(Image.open(planted / "data" / relative).convert("RGB"), np.float32)


def test_the_planted_data_is_wide_with_the_tag_in_the_corner(planted, model):
    assert model.input_size == (HEIGHT, WIDTH)
    image = pixels(planted, tagged(planted)[0])
    assert image.shape == (HEIGHT, WIDTH, 3)
    top, left, bottom, right = TAG
    tag = image[top:bottom, left:right, 0]
    assert set(np.unique(tag)) == {0.0, 255.0}  # the checkerboard


def test_grid_regions_cover_an_h_by_w_frame():
    masks = grid_regions((10, 17), 4, 4)  # rows start 0, 4, 6; columns 0, 4, 8, 12, 13
    assert masks.shape == (15, 10, 17)
    assert masks.any(axis=0).all() and (masks.sum(axis=(1, 2)) == 16).all()
    assert masks[-1, 6:, 13:].all()  # the last patch flush with the bottom-right corner
    with pytest.raises(UserError, match=r"patch <= 10 \(the shorter side of 10x17 inputs\)"):
        grid_regions((10, 17), 11, 4)


def test_occlusion_equals_region_by_region_drops(planted, model):
    """Six 16 x 16 patches tile 32 x 48: each pixel's value is its patch's drop of the red logit
    when the patch is filled with the image's mean colour, computed here with ``predict``."""
    image = pixels(planted, tagged(planted)[0])
    result = explain(model, image[None], RED, "occlusion", patch=16, stride=16)
    assert result.raw.shape == (1, HEIGHT, WIDTH)
    logit = model.predict(image[None])[0, RED]
    expected = np.zeros((HEIGHT, WIDTH))
    for top in (0, 16):
        for left in (0, 16, 32):
            copy = image.copy()
            copy[top : top + 16, left : left + 16] = image.mean(axis=(0, 1))
            expected[top : top + 16, left : left + 16] = logit - model.predict(copy[None])[0, RED]
    np.testing.assert_allclose(result.raw[0], expected, rtol=1e-4, atol=1e-3)
    assert expected[TAG[0], TAG[1]] == expected.max()  # the tag's patch matters most
    assert result.overlay(0, display="magnitude").shape == (HEIGHT, WIDTH, 3)  # signed, redrawn


def masks_by_hand(grids, height, width, offsets):
    """Each s x s grid upsampled to (s + 1) ceil(H / s) x (s + 1) ceil(W / s) by half-pixel
    bilinear interpolation (edges clamped), then cropped to H x W at its offset."""

    def matrix(n, size):
        out = np.zeros((size, n))
        for j in range(size):
            t = min(max((j + 0.5) * n / size - 0.5, 0.0), n - 1.0)
            low = int(np.floor(t))
            out[j, low] += 1.0 - (t - low)
            out[j, min(low + 1, n - 1)] += t - low
        return out

    s = grids.shape[-1]
    rows = matrix(s, (s + 1) * int(np.ceil(height / s)))
    cols = matrix(s, (s + 1) * int(np.ceil(width / s)))
    return np.stack(
        [
            (rows @ g @ cols.T)[dy : dy + height, dx : dx + width]
            for g, (dy, dx) in zip(grids, offsets)
        ]
    )


def test_rise_masks_of_an_h_by_w_input_are_the_grids_stretched():
    cells, keep = 4, 0.5  # C_h = ceil(10 / 4) = 3, C_w = ceil(17 / 4) = 5
    draws = list(rise_math.rise_grids(40, cells, keep, cell=(3, 5), seed=2, batch_size=16))
    masks = list(rise_math.rise_masks(40, (10, 17), cells, keep, seed=2, batch_size=16))
    offsets = np.concatenate([o for _, o in draws])
    assert offsets[:, 0].max() <= 2 and offsets[:, 1].max() <= 4
    assert set(offsets[:, 1]) == set(range(5))  # dx reaches every column offset
    for (grids, shift), batch in zip(draws, masks):
        assert batch.shape[1:] == (10, 17)
        np.testing.assert_allclose(batch, masks_by_hand(grids, 10, 17, shift), atol=1e-5)
    square = np.concatenate(list(rise_math.rise_masks(8, 16, 4, keep, seed=1)))
    draws = list(rise_math.rise_grids(8, 4, keep, cell=4, seed=1))
    np.testing.assert_allclose(square, masks_by_hand(draws[0][0], 16, 16, draws[0][1]), atol=1e-5)


def test_rise_finds_the_tag(planted, model):
    image = pixels(planted, tagged(planted)[0])
    result = explain(model, image[None], RED, "rise", masks=400, cells=6)
    assert result.raw.shape == (1, HEIGHT, WIDTH)
    top, left, bottom, right = TAG
    saliency = result.raw[0]
    assert saliency[top:bottom, left:right].mean() > np.percentile(saliency, 90)


def test_xrai_keeps_the_frame(planted, model):
    image = pixels(planted, tagged(planted)[0])
    result = explain(model, image[None], RED, "xrai", steps=2, scales=(50,))
    assert result.raw.shape == (1, HEIGHT, WIDTH) and np.isfinite(result.raw).all()
    top, left, bottom, right = TAG
    assert result.raw[0, top:bottom, left:right].mean() > result.raw[0].mean()


def test_maximisation_of_a_registered_net_at_h_by_w():
    """EfficientNet-Lite0 (global pooling) run at 160 x 256: the synthesised image has that
    frame and the ascent raises the class logit (the planted model's ReLU gates are shut on
    the grey start, so it cannot be the net here)."""
    wide = gradcam.Model("efficientnet_lite0", input_size=(160, 256))
    try:
        picture = maximize(wide, 963, steps=4, jitter=4, seed=0)  # 963: pizza
    finally:
        wide.close()
    assert picture.image.shape == (160, 256, 3)
    assert picture.objective[-1] > picture.objective[0]


def test_audit_of_a_wide_data_set_isolates_the_tag(planted, model, tmp_path):
    result = gradcam.audit(model, planted / "data", out=tmp_path / "AUDIT")
    flagged = result.suspicious()
    assert [c.name for c, _ in flagged] == ["red"]
    cluster = flagged[0][1]
    assert sorted(cluster.members) == tagged(planted)
    record = json.loads((tmp_path / "AUDIT" / "audit.json").read_text())
    assert sum(c["images"] for c in record["classes"]) == 72
    region = cluster.hot_region
    assert region.shape == (HEIGHT, WIDTH)
    top, left, bottom, right = TAG
    assert region[top:bottom, left:right].all()  # the masked region covers the tag
    mean_map = cluster.mean_map  # at feature resolution, 8 x 12 (4 x 4 pooling)
    assert mean_map.shape == (HEIGHT // 4, WIDTH // 4)
    assert np.unravel_index(mean_map.argmax(), mean_map.shape) == (7, 11)
    assert mean_map[6:, 10:].sum() > 0.5 * mean_map.sum()  # most of the mass on the tag's cells


def test_focus_mosaics_of_h_by_w_images():
    masks = tile_masks((31, 48))
    assert masks.sum(axis=0).max() == 1 and masks.any(axis=0).all()
    assert [int(m.sum()) for m in masks] == [15 * 24, 15 * 24, 16 * 24, 16 * 24]
    tiles = [np.full((31, 48, 3), v, np.uint8) for v in (10, 20, 30, 40)]
    mosaic = make_mosaic(tiles, (31, 48))
    assert mosaic.shape == (31, 48, 3)
    for mask, value in zip(masks, (10, 20, 30, 40)):
        assert (mosaic[mask] == value).all()


def test_trust_quick_runs_focus_on_a_class_sorted_wide_folder(planted, model, tmp_path):
    card = gradcam.trust(model, planted / "data", methods=["grad_cam", "occlusion"])
    assert card.images == 16
    assert "focus" not in card.skipped
    for name in ("grad_cam", "occlusion"):
        focus = card.methods[name].cells["focus"]
        assert focus is not None and 0.0 <= focus["score"] <= 1.0
    assert card.methods["grad_cam"].cells["focus"]["score"] > 0.75  # evidence on its own tiles


def test_evaluate_boxes_are_in_the_models_frame(planted, tmp_path):
    first = tagged(planted)[0]
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({Path(first).name: [list(TAG)]}))
    flags = ["--model-file", str(planted / "model.keras"), "--labels", str(planted / "labels.txt")]
    argv = ["evaluate", str(planted / "data" / first), "--methods", "grad_cam", "--steps", "4",
            "--boxes", str(boxes), "--out", str(tmp_path / "ev"), *flags]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert summary["image_size"] == [HEIGHT, WIDTH]
    assert summary["methods"]["grad_cam"]["metrics"]["pointing_hit"]["mean"] == 100.0


def test_beam_equals_batch_on_a_wide_model(planted, tmp_path):
    flags = ["--model-file", str(planted / "model.keras"), "--outputs", "npz,jsonl"]
    folder = planted / "data" / "red"
    for command in ("batch", "beam"):
        argv = [command, str(folder), "--out", str(tmp_path / command), *flags]
        assert main(argv + (["--no-progress"] if command == "batch" else [])) == 0
    batch = sorted((tmp_path / "batch").rglob("*.npz"))
    assert len(batch) == 24
    for path in batch:
        with (
            np.load(path) as a,
            np.load(tmp_path / "beam" / path.relative_to(tmp_path / "batch")) as b,
        ):
            assert a["map"].shape == (HEIGHT, WIDTH)
            np.testing.assert_array_equal(a["map"], b["map"])


def test_image_size_flag_runs_a_registered_net_at_h_by_w(tmp_path, capsys):
    from conftest import photo

    path = tmp_path / "cat.png"
    Image.fromarray(photo("chelsea")).save(path)
    argv = ["explain", str(path), "--image-size", "160x256", "--output", str(tmp_path / "o.png"),
            "--save-npz", str(tmp_path / "o.npz")]  # fmt: skip
    assert main(argv) == 0
    with np.load(tmp_path / "o.npz") as saved:
        assert saved["map"].shape == (160, 256)
    assert main(["explain", str(path), "--image-size", "160x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "'160x' is neither S nor H x W" in err[-1]


def test_a_registered_net_with_a_fixed_size_head_refuses_h_by_w_in_one_line(tmp_path, capsys):
    """Inception v1's 7 x 7 average pool needs its 224 x 224 input: at 160 x 256 the last map is
    5 x 8 and the pool does not fit; the error names the flag the user gave and the layer."""
    from conftest import make_random_checkpoint, photo

    checkpoint = make_random_checkpoint("inception_v1", tmp_path)
    path = tmp_path / "cat.png"
    Image.fromarray(photo("chelsea")).save(path)
    argv = ["explain", str(path), "--model", "inception_v1", "--checkpoint", checkpoint]
    assert main([*argv, "--image-size", "160x256"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "inception_v1 does not run at --image-size 160x256" in err
    assert "InceptionV1/Logits/MaxPool_0a_7x7 needs its own 224x224 input" in err
    with pytest.raises(UserError, match="does not run at input_size 160x256"):
        gradcam.Model("inception_v1", checkpoint, input_size=(160, 256))
