"""`gradcam evaluate` with the papers' protocols: VOC box folders (the CAM / Grad-CAM localisation
and the pointing game, figures checked against the hand-worked example of synthetic_boxes with its
maps injected in place of the explain step), --protocol rise checked against the protocol's own
definition on the embedded model, provenance in every JSON, and one-line errors for flags that
cannot apply."""

import json

import numpy as np
import pytest

from gradcam.cli import main
from gradcam.commands import evaluate
from gradcam.evaluation import box_evaluation, localization, protocols
from gradcam.evaluation.provenance import checkpoint_sha256
from gradcam.images import load_image

from synthetic_boxes import (
    COCK,
    HAND_FIGURES,
    HAND_TOP5,
    TABBY,
    TENCH,
    TIGER_CAT,
    hand_maps,
    stem_of,
    write_hand_set,
)


@pytest.fixture
def given_maps(monkeypatch):
    """Replace the explain step by the hand-worked maps and top-5 logits; record its calls."""
    calls = []
    maps = hand_maps()

    def fake(model, method, photos, targets, **kwargs):
        stems = [stem_of(p) for p in photos]
        calls.append((method, stems, [int(t) for t in targets]))
        logits = np.zeros((len(photos), 1000), np.float32)
        for row, stem in enumerate(stems):
            logits[row, HAND_TOP5[stem]] = [10, 9, 8, 7, 6]
        return [maps[s, int(t)] for s, t in zip(stems, targets)], logits

    monkeypatch.setattr(box_evaluation, "original_size_maps", fake)
    return calls


@pytest.fixture
def hand_set(tmp_path):
    return write_hand_set(tmp_path / "set"), tmp_path / "set" / "boxes"


def run_cli(*argv):
    return main(["evaluate", *map(str, argv)])


@pytest.fixture
def evaluate_cli(cli):
    """``gradcam evaluate ARGV`` on the session's lite0."""
    return lambda *argv: cli(["evaluate", *map(str, argv)])


def test_evaluate_boxes_dir_writes_the_hand_worked_figures(
    evaluate_cli, lite0, hand_set, given_maps, tmp_path, capsys
):
    images, boxes = hand_set
    out = tmp_path / "out"
    assert (
        evaluate_cli(
            *images,
            "--boxes",
            boxes,
            "--methods",
            "grad_cam",
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--out",
            out,
        )
        == 0
    )
    # the explain step saw one row per (image, class), classes of B in file order, 2 images a time
    assert given_maps == [
        ("grad_cam", ["a", "b", "b"], [TIGER_CAT, TABBY, COCK]),
        ("grad_cam", ["c"], [TENCH]),
    ]
    record = json.loads((out / "localization.json").read_text())
    figures = record["methods"]["grad_cam"]["figures"]
    for key, value in HAND_FIGURES.items():
        assert figures[key] == pytest.approx(value), key
    assert (figures["images"], figures["records"]) == (3, 4)
    rows = record["methods"]["grad_cam"]["records"]
    assert [(r["image"].rsplit("/", 1)[-1], r["class"]) for r in rows] == [
        ("a.png", TIGER_CAT),
        ("b.png", TABBY),
        ("b.png", COCK),
        ("c.png", TENCH),
    ]
    a, b_tabby, b_cock, c = rows
    # boxes written back in the files' 1-based convention: A's is the tiger cat's own box
    assert (a["predicted_box_voc"], a["iou"], a["box_correct"], a["pointing_hit"]) == (
        [31, 21, 90, 60],
        1.0,
        True,
        True,
    )
    assert a["label"] == "tiger cat" and b_tabby["top5"] and not b_tabby["top1"]
    assert (b_cock["predicted_box_voc"], b_cock["point"], b_cock["pointing_hit"]) == (
        None,
        None,
        False,
    )
    assert c["predicted_box_voc"] == [31, 61, 60, 90] and c["iou"] == pytest.approx(4 / 9)
    assert c["point"] == [0, 0] and not c["pointing_hit"]
    # provenance: the protocol and its parameters, seed, versions, the checkpoint's SHA-256
    assert (record["protocol"]["threshold"], record["protocol"]["pointing_tolerance"]) == (0.15, 15)
    assert record["protocol"]["image_geometry"] == "whole" and record["seed"] == 0
    assert record["packages"]["numpy"] == np.__version__
    assert record["checkpoint"]["sha256"] == checkpoint_sha256(lite0.source)["sha256"]
    # the perturbation metrics still ran, under the default protocol, named in their JSON
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"]["name"] == "default" and summary["protocol"]["steps"] == 2
    assert summary["checkpoint"] == record["checkpoint"]
    assert len(summary["methods"]["grad_cam"]["mean_deletion_curve"]) == 3
    printed = capsys.readouterr().out
    assert (
        "protocol default" in printed
        and "| grad_cam | 50.00 | 66.67 | 50.00 | 50.00 | 3 |" in printed
    )


def test_threshold_and_tolerance_reach_the_protocol(evaluate_cli, hand_set, given_maps, tmp_path):
    images, boxes = hand_set
    out = tmp_path / "out"
    assert (
        evaluate_cli(
            *images,
            "--boxes",
            boxes,
            "--localization-only",
            "--loc-threshold",
            "0.6",
            "--tolerance",
            "81",
            "--out",
            out,
        )
        == 0
    )
    record = json.loads((out / "localization.json").read_text())
    assert (record["protocol"]["threshold"], record["protocol"]["pointing_tolerance"]) == (0.6, 81)
    c = record["methods"]["grad_cam"]["records"][3]
    # C at 60%: the 0.5 rectangle drops out; two one-pixel components (0, 0) and (80, 50) tie,
    # the first in raster order wins: box [1, 1, 1, 1] in VOC pixels, IoU 0.
    assert c["predicted_box_voc"] == [1, 1, 1, 1] and c["iou"] == 0.0
    # C's point (0, 0) is sqrt(40^2 + 70^2) = 80.6 px from its box: a hit within 81 px, so the
    # pointing game is A 1, B 1/2, C 1 -> 5 / 6; GT-known stays 0.5
    figures = record["methods"]["grad_cam"]["figures"]
    assert figures["pointing_game_accuracy"] == pytest.approx(5 / 6)
    assert figures["gt_known_loc_accuracy"] == pytest.approx(0.5)
    assert not (out / "summary.json").exists() and not (out / "per_image.csv").exists()


def test_whole_images_are_explained_and_mapped_at_their_own_size(lite0, hand_set):
    images, _ = hand_set
    photos = [load_image(p) for p in images]
    for method in ("grad_cam", "gradient"):
        maps, logits = box_evaluation.original_size_maps(lite0, method, photos, [1, 2, 3])
        assert [m.shape for m in maps] == [p.shape[:2] for p in photos]
        assert all(m.dtype == np.float32 and m.min() >= 0 for m in maps)
        # the logits are those of the whole image resized to 224 x 224, not of the model's crop
        whole = np.stack([localization.resize_whole(p, 224) for p in photos])
        np.testing.assert_allclose(logits, lite0.predict(whole), rtol=1e-4, atol=1e-4)
        assert not np.allclose(logits, lite0.predict(np.stack([lite0.prepare(p) for p in photos])))
    # Grad-CAM's evidence is max(map, 0) at 7 x 7, upsampled straight to the original size:
    # its maximum sits where the upsampled raw map has its maximum
    raw = box_evaluation.explain(lite0, whole[:1], [1], "grad_cam").raw[0]
    maps, _ = box_evaluation.original_size_maps(lite0, "grad_cam", photos[:1], [1])
    expected = localization.upsample_map(np.maximum(raw, 0), *photos[0].shape[:2])
    np.testing.assert_allclose(maps[0], expected, rtol=1e-5, atol=1e-6)
    # a constant photo has nothing to explain: its map is empty (no box, no point)
    flat = np.full((50, 70, 3), 128, np.uint8)
    with pytest.warns(UserWarning, match="constant"):
        maps, _ = box_evaluation.original_size_maps(lite0, "grad_cam", [flat], [1])
    assert maps[0].shape == (50, 70) and localization.box_from_map(maps[0]) is None


def test_rise_protocol_scores_the_predicted_class_on_the_whole_image(evaluate_cli, lite0, tmp_path):
    from PIL import Image

    from conftest import photo

    coffee = photo("coffee")  # 400 x 600: the model's crop would cut it
    Image.fromarray(coffee).save(tmp_path / "coffee.png")
    out = tmp_path / "rise"
    assert evaluate_cli(tmp_path / "coffee.png", "--protocol", "rise", "--out", out) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"]["name"] == "rise" and summary["protocol"]["step_pixels"] == 224
    whole = localization.resize_whole(load_image(tmp_path / "coffee.png"), 224)
    probabilities = lite0.fetch(whole[None], keys=["probabilities"])["probabilities"][0]
    target = int(probabilities.argmax())
    assert summary["targets"] == [{"index": target, "label": lite0.label(target)}]
    result = summary["methods"]["grad_cam"]
    deletion, insertion = result["mean_deletion_curve"], result["mean_insertion_curve"]
    # 224 x 224 pixels, 224 per step: 224 steps, 225 scores, from the whole image's probability
    assert len(deletion) == len(insertion) == 225
    assert deletion[0] == pytest.approx(float(probabilities[target]), abs=1e-5)
    assert insertion[-1] == pytest.approx(float(probabilities[target]), abs=1e-5)

    def probability(image):
        return float(lite0.fetch(image[None], keys=["probabilities"])["probabilities"][0, target])

    # deletion ends on the ImageNet mean colour, insertion starts from RISE's blurred canvas
    mean_image = np.broadcast_to(np.float32(protocols.IMAGENET_MEAN_PIXEL), whole.shape)
    assert deletion[-1] == pytest.approx(probability(mean_image), abs=1e-5)
    assert insertion[0] == pytest.approx(probability(protocols.rise_blur(whole)), abs=1e-5)
    auc = result["metrics"]["deletion_auc"]["mean"]
    assert auc == pytest.approx((sum(deletion) - deletion[0] / 2 - deletion[-1] / 2) / 224)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--protocol", "rise", "--class", "tabby"], "drop --class"),
        (["--protocol", "rise", "--deletion-baseline", "zero"], "drop --deletion-baseline"),
        (["--protocol", "rise", "--central-fraction", "1.0"], "drop --central-fraction"),
        (["--localization-only"], "needs --boxes DIR"),
        (["--loc-threshold", "1.5"], "--loc-threshold"),
        (["--tolerance", "-1"], "--tolerance"),
        (["--boxes", "/nonexistent/boxes"], "no such file or directory"),
        (["--steps", "0", "--protocol", "rise"], "--steps must be at least 1"),
    ],
)
def test_flags_that_cannot_apply_are_one_line_errors(argv, message, capsys, tmp_path):
    assert run_cli(tmp_path / "x.png", *argv, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_light_constants_match_the_evaluation_modules():
    # evaluate.py spells these out so that `gradcam --help` imports no scipy
    assert evaluate.PROTOCOL_NAMES == tuple(protocols.PROTOCOLS)
    assert evaluate.DEFAULT_LOC_THRESHOLD == localization.THRESHOLD
    assert evaluate.DEFAULT_TOLERANCE == localization.TOLERANCE


def test_rise_with_equal_steps_is_renamed_and_default_keeps_its_name():
    import argparse

    args = argparse.Namespace(
        protocol="rise",
        steps=8,
        deletion_baseline=None,
        insertion_baseline=None,
        classes=None,
        central_fraction=None,
    )
    assert evaluate.perturbation_protocol(args).name == "rise-8-steps"
    args.protocol = "default"
    default = evaluate.perturbation_protocol(args)
    assert (default.name, default.steps, default.deletion_substrate) == ("default", 8, "zero")
