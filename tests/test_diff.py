"""``gradcam diff``: the figures against hand computations on maps and on toy models whose
evidence the head places (tests/diff_models.py), the floor, the gate, label spaces, bad input."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import zoom
from scipy.stats import spearmanr
from static_pages import assert_pictures_load, read_page

import gradcam
from gradcam.cli import main
from gradcam.commands.common import load_user_modules
from gradcam.errors import UserError
from gradcam.model_diff.gate import parse_gate
from gradcam.model_diff.metrics import compare_batches, compare_maps, compare_to_many, top_mask
from gradcam.model_diff.summary import SUMMARY_FIGURES

from conftest import make_random_checkpoint, photo

ROOT = Path(__file__).resolve().parent.parent
# tests/diff_models.py's boxes: the red one (rows 4-15, columns 2-21) and the green one (rows 4-15,
# columns 12-31), 240 pixels each = 15% of 40 x 40, overlapping in 12 x 10 pixels.
IOU = 120 / (240 + 240 - 120)
SHIFT = 10.0  # the boxes' top-left corners (their first maxima) and centres, 10 columns apart


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("diff_models")
    subprocess.run(
        [sys.executable, str(ROOT / "tests" / "diff_models.py"), str(out)],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def red(files):
    model = gradcam.Model(files / "red.keras")
    yield model
    model.close()


@pytest.fixture(scope="module")
def green(files):
    model = gradcam.Model(files / "green.keras")
    yield model
    model.close()


def boxes(shape, *corners, size=(12, 20)):
    out = np.zeros(shape)
    for value, (top, left) in corners:
        out[top : top + size[0], left : left + size[1]] = value
    return out


def test_figures_of_two_boxes_equal_the_hand_computation():
    a = boxes((40, 40), (1.0, (4, 2)))
    b = boxes((40, 40), (1.0, (4, 12)))
    change = compare_maps(a, b)
    assert change.iou == pytest.approx(IOU)
    assert change.peak_shift == SHIFT and change.centroid_shift == pytest.approx(SHIFT)
    assert top_mask(a).sum() == 240 and (top_mask(a) == (a > 0)).all()
    same = compare_maps(a, a)
    assert (same.iou, same.peak_shift, same.centroid_shift) == (1.0, 0.0, 0.0)
    assert same.spearman == pytest.approx(1.0)
    # a valid mask restricts every figure to the pixels it keeps
    valid = np.zeros((40, 40), bool)
    valid[:, :22] = True
    half = compare_maps(a, b, valid=valid)
    assert half.centroid_shift == pytest.approx(16.5 - 11.5)  # B's box cut to columns 12-21


def test_placed_evidence_moves_by_the_hand_computed_amount(red, green, files):
    result = gradcam.diff(red, green, files / "boxes", strategies=False)
    assert len(result.images) == 6
    for image in result.images:
        for method in ("grad_cam", "layer_cam"):
            change = image.changes[method]
            assert change.iou == pytest.approx(IOU)
            assert change.peak_shift == SHIFT
            assert change.centroid_shift == pytest.approx(SHIFT)
            assert image.changed[method] and not image.flag
        assert image.floors["grad_cam"].iou == 1.0  # noise does not move a 200-level box
    summary = result.summary["grad_cam"]
    assert summary["median_iou"] == pytest.approx(IOU) and summary["changed_share"] == 1.0
    assert summary["iou_drift"] == pytest.approx((1 - IOU) / 0.01)
    assert result.check("median_iou<0.34") and not result.check("median_iou<0.33")
    assert not result.check("layer_cam.median_peak_shift>10")
    assert result.check("layer_cam.median_peak_shift>=10")


def test_a_model_against_itself_is_at_its_floor(red, files):
    result = gradcam.diff(red, red, files / "boxes", strategies=False)
    for image in result.images:
        for method in result.methods:
            change = image.changes[method]
            assert (change.iou, change.peak_shift, change.centroid_shift) == (1.0, 0.0, 0.0)
            assert change.spearman == pytest.approx(1.0)
            assert not image.changed[method]
        assert not image.flag and image.top1_a == image.top1_b
    assert result.summary["grad_cam"]["iou_drift"] == 0.0
    assert not result.check("median_iou<1, changed_share>0, top1_agreement<1")


def test_models_of_other_input_sizes_compare_in_a_frame(red, files):
    bigger = gradcam.Model(files / "red48.keras")
    result = gradcam.diff(red, bigger, files / "boxes", strategies=False)
    for image in result.images:
        change = image.changes["grad_cam"]
        assert change.iou >= 0.95 and change.centroid_shift < 0.5, change


def test_label_spaces_must_match_or_be_mapped(red, files):
    three = gradcam.Model(files / "three.keras")
    with pytest.raises(UserError, match="different label spaces.*class_map"):
        gradcam.diff(red, three, files / "boxes", strategies=False)
    mapped = gradcam.diff(
        red, three, files / "boxes", class_map={"class 0": "class 1"}, strategies=False
    )
    assert {(im.class_a, im.class_b) for im in mapped.images} == {(0, 1), (1, 1)}
    # class 0 of A read red; class 1 of B reads green: the placed boxes again
    moved = [im.changes["grad_cam"] for im in mapped.images if im.class_a == 0]
    assert all(c.iou == pytest.approx(IOU) for c in moved)


def test_gate_language():
    conditions = parse_gate(
        "median_iou<0.5, layer_cam.iou_drift >= 3 or top1_agreement<.9",
        ["grad_cam", "layer_cam"],
        SUMMARY_FIGURES,
    )
    assert [c.text() for c in conditions] == [
        "grad_cam.median_iou<0.5",
        "layer_cam.iou_drift>=3",
        "grad_cam.top1_agreement<0.9",
    ]
    for bad, said in [
        ("median_iou=0.5", "cannot read"),
        ("median_iou<", "cannot read"),
        ("median_iuo<0.5", "unknown figure 'median_iuo'"),
        ("smoothgrad.median_iou<0.5", "not a compared method"),
        ("median_iou<0.5,", "expected"),
    ]:
        with pytest.raises(UserError, match=said):
            parse_gate(bad, ["grad_cam", "layer_cam"], SUMMARY_FIGURES)


def _model_flags(files, b="green.keras"):
    return ["--model-file", str(files / "red.keras"), "--against", str(files / b)]


def test_command_writes_report_and_gate_exits_1(files, tmp_path, capsys):
    out = tmp_path / "diff"
    argv = ["diff", str(files / "boxes"), "--out", str(out), *_model_flags(files)]
    assert main([*argv, "--no-strategies", "--fail-if", "median_iou<0.33"]) == 0
    assert main([*argv, "--no-strategies", "--fail-if", "median_iou<0.34"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("gradcam: gate tripped: grad_cam median_iou = 0.3333")
    saved = json.loads((out / "diff.json").read_text())
    image = saved["images"][0]
    assert {"path", "class", "iou", "spearman", "peak_shift", "top1_a", "top1_b", "flag"} <= set(
        image
    )
    assert image["iou"] == pytest.approx(IOU) and saved["floor"]["iou"] == 1.0
    assert [c["class"] for c in saved["classes"]] == ["class 0", "class 1"]
    assert saved["tripped"] == [lines[-1].removeprefix("gradcam: ")]
    page = (out / "report.html").read_text()
    pictures = [p for p in out.iterdir() if p.suffix == ".png"]
    assert len(pictures) == 7 and all(p.name in page for p in pictures)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def _error_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradcam: error: "), err
    return err


def test_bad_input_is_one_line_and_writes_nothing(files, tmp_path, capsys):
    out = tmp_path / "diff"
    base = ["diff", str(files / "boxes"), "--out", str(out)]
    assert "--fail-if" in _error_line(capsys, [*base, *_model_flags(files), "--fail-if", "iou"])
    assert "--class-map" in _error_line(capsys, [*base, *_model_flags(files, "three.keras")])
    assert "model B" in _error_line(capsys, [*base, "--model-file", str(files / "red.keras")])
    (tmp_path / "map.json").write_text("[1, 2]")
    err = _error_line(
        capsys,
        [*base, *_model_flags(files, "three.keras"), "--class-map", str(tmp_path / "map.json")],
    )
    assert "JSON object" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no images" in _error_line(
        capsys, ["diff", str(empty), "--out", str(out), *_model_flags(files)]
    )
    assert not out.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    err = _error_line(
        capsys, ["diff", str(files / "boxes"), "--out", str(mine), *_model_flags(files)]
    )
    assert "holds no earlier diff" in err and (mine / "notes.txt").read_text() == "keep"


def test_rank_correlation_equals_scipy_spearman():
    rng = np.random.default_rng(3)
    for _ in range(4):
        a, b = (np.maximum(zoom(rng.normal(size=(7, 7)), 16, order=1), 0) for _ in range(2))
        expected = spearmanr(a.ravel(), b.ravel()).statistic  # ties at 0 (ReLU) included
        assert compare_maps(a, b, grid=None).spearman == pytest.approx(expected, abs=2e-3)


def test_the_comparison_grid_keeps_the_figures_of_smooth_maps():
    """At 224 px maps are compared as 4 x 4 block means (a 56 x 56 grid): boxes on the blocks give
    the hand computation in pixels, and smooth maps (CAM-like, 7 x 7 upsampled) the figures of the
    full-resolution comparison."""
    a = boxes((224, 224), (1.0, (20, 8)), size=(64, 80))
    b = boxes((224, 224), (1.0, (20, 48)), size=(64, 80))
    change, full = compare_maps(a, b), compare_maps(a, b, grid=None)
    assert change.peak_shift == full.peak_shift == 40.0
    assert change.centroid_shift == pytest.approx(40.0) and full.centroid_shift == pytest.approx(40)
    # the top 15% is each box (10.2% of the frame) and zeros taken in raster order: of blocks on
    # the grid, of pixels without it, so the two IoUs differ by those zeros' placement only
    assert change.iou == pytest.approx(full.iou, abs=1e-3)
    rng = np.random.default_rng(5)
    for _ in range(6):
        a, b = (np.maximum(zoom(rng.normal(size=(7, 7)), 32, order=1), 0) for _ in range(2))
        grid, full = compare_maps(a, b), compare_maps(a, b, grid=None)
        assert grid.spearman == pytest.approx(full.spearman, abs=0.02)
        assert grid.iou == pytest.approx(full.iou, abs=0.04)
        assert grid.centroid_shift == pytest.approx(full.centroid_shift, abs=1.0)


def test_one_stack_against_many_equals_each_pair_and_pads_the_grid():
    """``compare_to_many`` (A's summary computed once) gives what each pair gives alone; a frame
    that the blocks do not divide (226 px: 4 x 4 blocks, padded as invalid) and a valid mask keep
    the figures of every-pixel comparison."""
    rng = np.random.default_rng(7)
    a, b, c = (
        np.maximum(zoom(rng.normal(size=(3, 7, 7)), (1, 32, 32), order=1), 0)[:, :226, :226]
        for _ in range(3)
    )
    valid = np.ones(a.shape, bool)
    valid[:, :, 200:] = False
    many = compare_to_many(a, [(b, None), (c, valid)])
    for got, alone in zip(many, [compare_batches(a, b), compare_batches(a, c, valid=valid)]):
        assert {k: list(v) for k, v in got.items()} == {k: list(v) for k, v in alone.items()}
    full = compare_batches(a, c, valid=valid, grid=None)
    assert many[1]["spearman"] == pytest.approx(full["spearman"], abs=0.02)
    assert many[1]["iou"] == pytest.approx(full["iou"], abs=0.05)
    assert many[1]["centroid_shift"] == pytest.approx(full["centroid_shift"], abs=1.5)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    out = tmp_path_factory.mktemp("diff_planted")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "make_planted_shortcut.py"),
            str(out / "planted"),
            "--untagged-model",
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return out / "planted"


def test_dropping_a_planted_tag_tops_the_change_list_and_the_strategy_diff(planted, tmp_path):
    labels = str(planted / "labels.txt")
    with_tag = gradcam.Model(planted / "model.keras", labels=labels)
    without = gradcam.Model(planted / "model_no_tag.keras", labels=labels)  # "trained without"
    tagged = set((planted / "tagged.txt").read_text().split())
    result = gradcam.diff(with_tag, without, planted / "data", out=tmp_path / "diff")
    top = [im.path for im in result.largest(len(tagged))]
    assert len(set(top) & tagged) >= 0.9 * len(tagged), sorted(set(top) - tagged)
    red = next(c for c in result.classes if c["class"] == "red")
    vanished = [c for c in red["strategies"]["changes"] if c["kind"] == "vanished"]
    assert vanished, red["strategies"]
    cluster = next(a for a in red["strategies"]["a"] if a["id"] == vanished[0]["a"])
    assert len(set(cluster["members"]) & tagged) >= 0.8 * len(cluster["members"])
    assert cluster["suspicious"] and "bottom-right" in vanished[0]["sentence"]
    for other in result.classes:  # the untagged classes keep their strategies
        if other["class"] != "red":
            assert not [c for c in other["strategies"]["changes"] if c["kind"] == "vanished"]
    page = (tmp_path / "diff" / "report.html").read_text()
    assert vanished[0]["sentence"].split(";")[0][:40] in page


def test_report_opens_from_disk_in_chromium(red, green, files, tmp_path):
    gradcam.diff(
        red, green, files / "boxes", strategies=False, out=tmp_path / "d", fail_if="median_iou<0.5"
    )
    seen = read_page(tmp_path / "d" / "report.html", counts=["figure", "table tr"])
    assert_pictures_load(seen, tmp_path / "d")
    assert seen["counts"]["figure"] == 6  # the gallery: every image changed
    assert "Gate tripped" in seen["text"] and "median_iou" in seen["text"]


def test_the_documented_gate_script_stops_a_pipeline(files, tmp_path):
    """docs/diff.md's shell snippet, run as written with the toy models for v1 and v2."""
    text = (ROOT / "docs" / "diff.md").read_text()
    script = next(b for b in re.findall(r"```bash\n(.*?)```", text, re.S) if "if !" in b)
    for name, real in (("v1.keras", "red.keras"), ("v2.keras", "green.keras")):
        script = script.replace(name, str(files / real))
    script = script.replace("data/", str(files / "boxes") + "/").replace("diff/", "out/")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    assert "the new model's evidence moved: see out/report.html" in done.stderr
    assert (tmp_path / "out" / "report.html").is_file()


def test_two_slim_checkpoints_through_the_command(tmp_path, capsys):
    """--model NET --checkpoint A --against-checkpoint B: a checkpoint against itself is at its
    floor; against another random initialisation it moves."""
    example = str(ROOT / "examples" / "my_net.py")
    load_user_modules(["--register-module", example])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_random_checkpoint("tiny_convnet", tmp_path / "a", seed=3)
    second = make_random_checkpoint("tiny_convnet", tmp_path / "b", seed=4)
    data = tmp_path / "photos"
    data.mkdir()
    for name in ("rocket", "coffee", "chelsea"):
        Image.fromarray(photo(name)).save(data / f"{name}.png")
    base = ["diff", str(data), "--register-module", example, "--model", "tiny_convnet"]
    base += ["--no-strategies", "--methods", "grad_cam", "--checkpoint", first]
    assert main([*base, "--out", str(tmp_path / "same"), "--against-checkpoint", first]) == 0
    same = json.loads((tmp_path / "same" / "diff.json").read_text())
    assert all(im["iou"] == 1.0 and im["peak_shift"] == 0.0 for im in same["images"])
    assert main([*base, "--out", str(tmp_path / "other"), "--against-checkpoint", second]) == 0
    other = json.loads((tmp_path / "other" / "diff.json").read_text())
    assert len(other["images"]) == 3 and min(im["iou"] for im in other["images"]) < 1.0
    capsys.readouterr()
