"""Every reproduction script runs in --fast mode, in-process on the shared embedded model, and
writes its figure and numbers; the Hive script also runs unchanged on a ResNet-v2-50 checkpoint."""

import json

import pytest

from conftest import make_random_checkpoint
from scripts_helper import script


def run(name, lite0, out, *argv):
    assert script(name).main(["--fast", "--out", str(out), *argv], model=lite0) == 0
    return out


def test_hive_explains_the_top_class_and_the_other_object(lite0, tmp_path):
    out = run("reproduce_hive", lite0, tmp_path)
    record = json.loads((out / "hive.json").read_text())
    assert (out / "hive.png").stat().st_size > 0
    top, override = record["explained"]
    assert top["index"] == record["top5"][0]["index"] and override["index"] != top["index"]
    assert override["label"] in record["classes_alone"].values()
    # the override is the other object's class: its map sits mostly on the other tile
    energy = record["map_energy_in_tile"]
    top_on_left = energy["top"]["left"] > energy["top"]["right"]
    assert top_on_left != (energy["override"]["left"] > energy["override"]["right"])
    # why A rather than B, both ways: each contrastive map sits on its own class's object
    assert (out / "hive_contrast.png").stat().st_size > 0
    rather = record["rather_than"]
    assert [(r["index"], r["contrast"]) for r in rather] == [
        (top["index"], override["index"]),
        (override["index"], top["index"]),
    ]
    for role, other in (("top", "override"), ("override", "top")):
        plain, contrastive = energy[role], energy[f"{role}_rather_than_{other}"]
        own, away = ("left", "right") if plain["left"] > plain["right"] else ("right", "left")
        assert contrastive[own] > contrastive[away]


def test_hive_runs_unchanged_on_a_resnet_v2_50_checkpoint(tmp_path):
    checkpoint = make_random_checkpoint("resnet_v2_50", tmp_path)
    out = tmp_path / "hive"
    assert (
        script("reproduce_hive").main(
            [
                "--fast",
                "--out",
                str(out),
                "--model",
                "resnet_v2_50",
                "--checkpoint",
                checkpoint,
                "--class",
                "7",
                "--style",
                "shading",
            ]
        )
        == 0
    )
    record = json.loads((out / "hive.json").read_text())
    assert (record["model"], record["layer"], record["image_size"], record["num_classes"]) == (
        "resnet_v2_50",
        "PrePool",
        299,
        1001,
    )
    assert record["explained"][1]["index"] == 7 and (out / "hive.png").exists()


def test_class_discriminative_guided_backprop_correlates_more_than_grad_cam(lite0, tmp_path):
    out = run("reproduce_class_discriminative", lite0, tmp_path)
    record = json.loads((out / "class_discriminative.json").read_text())
    methods = record["methods"]
    correlation = {m: methods[m]["pearson_between_classes"] for m in methods}
    assert correlation["guided_backprop"] > correlation["grad_cam"]
    assert all(e > 0.5 for e in methods["grad_cam"]["energy_in_own_tile"])
    assert (out / "class_discriminative.png").exists()


def test_comparison_figure_of_every_method(lite0, tmp_path):
    from gradcam.methods import METHODS

    out = run("reproduce_comparison", lite0, tmp_path)
    record = json.loads((out / "comparison.json").read_text())
    assert record["methods"] == list(METHODS)
    assert record["images"]["coffee"]["label"] == "espresso" and (out / "comparison.png").exists()
    assert all(
        set(record["images"][photo]["seconds"]) == set(METHODS) for photo in ("coffee", "chelsea")
    )


def test_sanity_checks_restore_the_weights(lite0, tmp_path):
    out = run("reproduce_sanity_checks", lite0, tmp_path)
    record = json.loads((out / "sanity_checks.json").read_text())
    assert record["weights_restored_exactly"] is True
    assert record["steps"] == ["original", "logits", "head"]
    assert len(record["curves"]) >= 4 and all(len(c) == 3 for c in record["curves"].values())
    assert (out / "sanity_checks.png").exists()


def test_localization_benchmark_table(lite0, tmp_path):
    out = run("localization_benchmark", lite0, tmp_path)
    record = json.loads((out / "localization.json").read_text())
    assert len(record["table"]) >= 2
    assert record["table"]["grad_cam"]["tiles"] == 4
    assert len(record["per_tile"]["grad_cam"]["hit"]) == 4
    assert "grad_cam" in (out / "localization.md").read_text()


def test_script_reports_a_bad_photo_name_as_a_user_error(lite0, tmp_path):
    from gradcam.errors import UserError

    with pytest.raises(UserError):
        run("reproduce_sanity_checks", lite0, tmp_path, "--images", "nosuchphoto")
