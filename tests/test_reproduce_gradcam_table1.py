"""scripts/reproduce_gradcam_table1.py on a synthetic box set built here (objects pasted at known
places on a texture, VOC XML files): the figures for given maps against the hand-worked ones, the
CAM family chosen from the registry with inapplicable methods skipped, and a real run on the
embedded EfficientNet-Lite0 checked for structure and ranges."""

import json

import numpy as np
import pytest

from gradcam.errors import UserError
from gradcam.evaluation import box_evaluation
from gradcam.methods import METHODS

from scripts_helper import script
from synthetic_boxes import (
    HAND_FIGURES,
    HAND_SCENES,
    HAND_TOP5,
    hand_maps,
    stem_of,
    write_hand_set,
)


@pytest.fixture
def hand_set(tmp_path):
    write_hand_set(tmp_path / "set")
    return tmp_path / "set" / "images", tmp_path / "set" / "boxes"


def run(lite0, images, boxes, out, *argv):
    module = script("reproduce_gradcam_table1")
    return module.main(
        ["--fast", "--images", str(images), "--boxes", str(boxes), "--out", str(out), *argv],
        model=lite0,
    )


def test_given_maps_give_the_hand_worked_table(lite0, hand_set, tmp_path, monkeypatch, capsys):
    maps = hand_maps()
    seen = []

    def fake(model, method, photos, targets, **kwargs):
        if method == "cam":  # as on a network without global average pooling
            raise UserError("CAM needs a network ending in global average pooling")
        stems = [stem_of(p) for p in photos]
        seen.append(method)
        logits = np.zeros((len(photos), 1000), np.float32)
        for row, stem in enumerate(stems):
            logits[row, HAND_TOP5[stem]] = [10, 9, 8, 7, 6]
        return [maps[s, int(t)] for s, t in zip(stems, targets)], logits

    monkeypatch.setattr(box_evaluation, "original_size_maps", fake)
    out = tmp_path / "out"
    assert run(lite0, *hand_set, out) == 0
    record = json.loads((out / "gradcam_table1.json").read_text())
    family = [name for name, method in METHODS.items() if method.lowres]
    assert "grad_cam" in family and "cam" in family
    assert list(record["methods"]) == [m for m in family if m != "cam"]
    assert "global average pooling" in record["skipped"]["cam"]
    for result in record["methods"].values():
        for key, value in HAND_FIGURES.items():
            assert result["figures"][key] == pytest.approx(value), key
        assert len(result["records"]) == 4
    assert record["comparable"] is False and record["images"] == len(HAND_SCENES)
    assert record["protocol"]["threshold"] == 0.15 and len(record["checkpoint"]["sha256"]) == 64
    printed = capsys.readouterr().out
    # this run beside the published rows, in percent, and what the published rows need
    assert (
        "| grad_cam (this run) | efficientnet_lite0 | 3 | 66.67 | 50.00 | 50.00 | 50.00 |"
        in printed
    )
    assert "56.51 | 46.41" in printed and "70.58" in printed and "60.30" in printed
    assert "--model vgg_16" in printed and "not comparable" in printed
    assert (out / "gradcam_table1.md").read_text().count("published") >= 4


def test_real_run_on_lite0_has_the_records_and_figures_in_range(lite0, hand_set, tmp_path):
    images, boxes = hand_set
    out = tmp_path / "real"
    assert run(lite0, images, boxes, out, "--methods", "grad_cam,gradient") == 0
    record = json.loads((out / "gradcam_table1.json").read_text())
    assert list(record["methods"]) == ["grad_cam", "gradient"] and record["skipped"] == {}
    sizes = {stem: (w, h) for stem, (w, h, _) in HAND_SCENES.items()}
    for result in record["methods"].values():
        figures = result["figures"]
        assert all(0.0 <= figures[k] <= 1.0 for k in HAND_FIGURES)
        assert (figures["images"], figures["records"]) == (3, 4)
        for row in result["records"]:
            width, height = sizes[row["image"].rsplit("/", 1)[-1][:-4]]
            assert 0.0 <= row["iou"] <= 1.0 and row["box_correct"] == (row["iou"] >= 0.5)
            if row["predicted_box_voc"] is not None:
                xmin, ymin, xmax, ymax = row["predicted_box_voc"]
                assert 1 <= xmin <= xmax <= width and 1 <= ymin <= ymax <= height
            if row["point"] is not None:
                assert 0 <= row["point"][0] < height and 0 <= row["point"][1] < width
            assert row["top1"] <= row["top5"]


def test_limit_and_bad_folders(lite0, hand_set, tmp_path):
    images, boxes = hand_set
    out = tmp_path / "one"
    assert run(lite0, images, boxes, out, "--methods", "grad_cam", "--limit", "1") == 0
    assert json.loads((out / "gradcam_table1.json").read_text())["images"] == 1
    with pytest.raises(UserError, match="no image"):
        run(lite0, boxes, boxes, out)
    with pytest.raises(UserError, match="no CAM-family method runs .*unknown layer"):
        run(lite0, images, boxes, out, "--layer", "nosuch")
    with pytest.raises(UserError, match="no c.xml"):
        (boxes / "c.xml").unlink()
        run(lite0, images, boxes, out, "--methods", "grad_cam")
