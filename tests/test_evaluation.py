"""Evaluation library: deletion/insertion on a toy linear model with a known answer, pointing game
on synthetic maps, confidence drop, and cascading randomisation on the embedded model."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.special import softmax

from gradcam.evaluation import (
    collage,
    confidence,
    perturbation,
    pointing,
    randomization,
    similarity,
)

from conftest import photo

SIDE = 8  # toy images are 8 x 8 x 3, all ones; pixel weights are a permutation of 1..64


def toy_model(weights):
    """Linear 'network': score = sum of pixel weight x mean channel value, over its total weight."""
    calls = []

    def score(images):
        calls.append(len(images))
        return np.einsum("hw,nhw->n", weights, images.mean(-1)) / weights.sum()

    return score, calls


@pytest.fixture
def toy():
    weights = np.random.default_rng(1).permutation(SIDE * SIDE).reshape(SIDE, SIDE) + 1.0
    return np.ones((SIDE, SIDE, 3), np.float32), weights


def test_perfect_order_gives_the_analytic_deletion_and_insertion_auc(toy):
    image, weights = toy
    score, calls = toy_model(weights)
    deletion = perturbation.curve(
        score, image, weights, "deletion", "zero", steps=64, batch_size=10
    )
    insertion = perturbation.curve(
        score, image, weights, "insertion", "zero", steps=64, batch_size=10
    )
    # after removing the t largest of 1..64 the rest sums to (64 - t)(65 - t) / 2; the sum over t of
    # these is C(66, 3) = 45760, i.e. 22 in units of the total 2080, so AUC = (22 - 1/2) / 64.
    t = np.arange(65)
    np.testing.assert_allclose(deletion, (64 - t) * (65 - t) / 2 / 2080, atol=1e-12)
    assert perturbation.auc(deletion) == pytest.approx(21.5 / 64)
    assert perturbation.auc(insertion) == pytest.approx(1 - 21.5 / 64)
    assert calls == ([10] * 6 + [5]) * 2  # 65 copies per curve, in batches of at most 10


def test_random_order_lies_between_the_best_and_the_worst(toy):
    image, weights = toy
    score, _ = toy_model(weights)

    def deletion_auc(saliency):
        return perturbation.auc(perturbation.curve(score, image, saliency, "deletion", "zero", 64))

    random_aucs = [deletion_auc(np.random.default_rng(s).random((SIDE, SIDE))) for s in range(5)]
    assert deletion_auc(weights) == pytest.approx(21.5 / 64)
    assert deletion_auc(-weights) == pytest.approx(42.5 / 64)  # least important first
    assert all(21.5 / 64 < a < 42.5 / 64 for a in random_aucs)


def test_curve_ends_are_the_image_and_the_baseline_and_batches_are_bounded(toy):
    image, weights = toy
    score, calls = toy_model(weights)
    blurred = perturbation.substrate_image(image * 100, "blur")
    values = perturbation.curve(
        score, image * 100, weights, "deletion", blurred, steps=7, batch_size=3
    )
    assert len(values) == 8 and calls == [3, 3, 2]
    assert values[0] == pytest.approx(score((image * 100)[None])[0])
    assert values[-1] == pytest.approx(score(blurred[None])[0])


def test_pointing_game_and_energy_on_a_synthetic_map():
    saliency = np.zeros((50, 50))
    saliency[30, 35] = 1.0
    saliency[5:10, 5:10] = 0.5  # 25 pixels x 0.5 = 12.5 of the 13.5 total mass
    box = pointing.box_mask((50, 50), (0, 0, 20, 30))
    assert not pointing.pointing_hit(saliency, box, tolerance=0)
    assert not pointing.pointing_hit(saliency, box, tolerance=10)  # 12.5 px from corner (19, 29)
    assert pointing.pointing_hit(saliency, box, tolerance=15)
    assert pointing.energy_inside(saliency, box) == pytest.approx(12.5 / 13.5)
    other = pointing.box_mask((50, 50), (25, 30, 35, 40))
    result = pointing.pointing_game([saliency, saliency], [box, other], 0)
    assert result["hit"].tolist() == [False, True]


def test_drop_and_increase_follow_their_definitions():
    drop, increase = confidence.drop_and_increase([0.5, 0.2, 0.8], [0.25, 0.4, 0.8])
    np.testing.assert_allclose(drop, [0.5, 0.0, 0.0])
    assert increase.tolist() == [False, True, False]


def test_all_ones_map_keeps_the_image_so_nothing_drops(lite0, cat_input):
    result = confidence.average_drop_increase(lite0, cat_input[None], np.ones((1, 224, 224)), [282])
    assert result["average_drop"] == 0.0 and result["increase_in_confidence"] == 0.0


def test_grad_cam_order_beats_its_reverse_on_the_espresso(lite0, coffee_input):
    from gradcam.explanation import explain

    saliency = explain(lite0, coffee_input[None], [967]).map
    good = perturbation.deletion_insertion(lite0, coffee_input[None], saliency, [967], steps=8)
    bad = perturbation.deletion_insertion(lite0, coffee_input[None], 1 - saliency, [967], steps=8)
    assert good["deletion_auc"][0] < bad["deletion_auc"][0]
    assert good["insertion_auc"][0] > bad["insertion_auc"][0]


def test_cascading_randomization_changes_exactly_its_layers_and_restores_bit_exactly(lite0):
    groups = randomization.layer_groups(lite0)
    assert list(groups)[:3] == ["logits", "head", "block_15"] and list(groups)[-1] == "stem"
    variables = randomization.model_variables(lite0)
    before = lite0.session.run(variables)
    ops = lite0.op_count
    changed_after = []
    with randomization.cascading_randomization(lite0, ["logits", "head"]) as steps:
        for _ in steps:
            now = lite0.session.run(variables)
            changed_after.append(
                {v.op.name for v, a, b in zip(variables, before, now) if not np.array_equal(a, b)}
            )
    expected_logits = {v.op.name for v in groups["logits"]}
    expected_both = expected_logits | {v.op.name for v in groups["head"]}
    assert changed_after == [expected_logits, expected_both]
    assert lite0.op_count == ops
    after = lite0.session.run(variables)
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(before, after))


def test_cam_sees_randomised_head_weights_and_their_restoration(lite0, cat_input):
    from gradcam.explanation import explain

    original = explain(lite0, cat_input[None], [282], "cam").lowres
    with randomization.cascading_randomization(lite0, ["logits"]) as steps:
        next(steps)
        randomised = explain(lite0, cat_input[None], [282], "cam").lowres
    assert np.corrcoef(original.ravel(), randomised.ravel())[0, 1] < 0.9
    np.testing.assert_array_equal(explain(lite0, cat_input[None], [282], "cam").lowres, original)


def test_randomization_is_restored_when_the_block_fails(lite0):
    variables = randomization.layer_groups(lite0)["logits"]
    before = lite0.session.run(variables)
    with pytest.raises(RuntimeError):
        with randomization.cascading_randomization(lite0, ["logits"]) as steps:
            next(steps)
            raise RuntimeError("boom")
    assert all(np.array_equal(a, b) for a, b in zip(before, lite0.session.run(variables)))


def test_random_values_keep_scale_and_sign_of_variances():
    rng = np.random.default_rng(0)
    variance = np.array([0.0, 0.5, 2.0, 8.0] * 100, np.float32)
    weights = rng.normal(0.3, 2.0, 1000).astype(np.float32)
    assert randomization.random_like(variance, rng).min() > 0
    draw = randomization.random_like(weights, rng)
    assert draw.dtype == np.float32 and abs(draw.std() - weights.std()) < 0.2
    assert abs(np.corrcoef(draw, weights)[0, 1]) < 0.1


def test_similarity_measures():
    a = np.random.default_rng(0).random((16, 16))
    assert similarity.spearman(a, a**3) == pytest.approx(1.0)
    assert similarity.pearson(a, -a) == pytest.approx(-1.0)
    assert similarity.ssim(a, a) == pytest.approx(1.0)
    assert np.isnan(similarity.spearman(a, np.zeros_like(a)))


def test_collage_tiles_partition_the_image_and_hold_the_photos():
    photos = [np.full((30, 60, 3), v, np.uint8) for v in (10, 20, 30, 40)]
    image, masks = collage.collage(photos, 2, 2, 50)
    assert np.array_equal(np.sum(masks, axis=0), np.ones((50, 50)))
    for tile, mask in zip(photos, masks):
        assert np.all(image[mask] == tile[0, 0])


def test_evaluate_method_scores_a_method_and_reads_boxes(lite0, coffee_input, tmp_path):
    import json

    from gradcam.errors import UserError
    from gradcam.evaluation import runner
    from gradcam.evaluation.protocols import DEFAULT

    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"coffee.png": [[0, 0, 224, 224]]}))
    masks = runner.read_json_boxes(boxes, ["samples/coffee.png"], 224)
    values, curves = runner.evaluate_method(
        lite0,
        "grad_cam",
        coffee_input[None],
        [967],
        protocol=replace(DEFAULT, steps=4),
        batch_size=8,
        masks=masks,
        tolerance=0,
    )
    assert curves["deletion_curve"].shape == (1, 5)
    assert values["pointing_hit"].tolist() == [100.0] and values["energy_in_box"][
        0
    ] == pytest.approx(1.0)
    boxes.write_text(json.dumps({"other.png": [[0, 0, 5, 5]]}))
    with pytest.raises(UserError, match="boxes .*no box for coffee.png"):
        runner.read_json_boxes(boxes, ["samples/coffee.png"], 224)


def test_evaluate_scores_are_the_protocol_curves_of_the_maps(lite0, tmp_path):
    """``runner.evaluate`` from photos, then ``write_report``: the per-image AUCs are the
    protocol's own curves of explain's maps, computed here independently."""
    import csv

    from gradcam.evaluation import report, runner
    from gradcam.evaluation.perturbation import auc
    from gradcam.evaluation.protocols import DEFAULT, protocol_curves
    from gradcam.explanation import explain

    protocol = replace(DEFAULT, steps=4)
    seen = []
    photos = [photo("coffee"), photo("chelsea")]
    result = runner.evaluate(
        lite0,
        photos,
        ["grad_cam"],
        protocol,
        batch_size=8,
        names=["coffee.png", "cat.png"],
        progress=lambda *a: seen.append(a),
    )
    assert seen == [("grad_cam", 2, 2)] and result.images == ["coffee.png", "cat.png"]
    batch = np.stack([lite0.prepare(p) for p in photos])  # the default protocol's crop
    targets = lite0.predict(batch).argmax(1)
    assert result.targets == [int(t) for t in targets]
    maps = explain(lite0, batch, targets, "grad_cam").map
    for i in range(2):
        score = lambda x, t=int(targets[i]): softmax(lite0.predict(x), axis=1)[:, t]  # noqa: E731
        curves = protocol_curves(score, batch[i], maps[i], protocol, 8)
        assert result.methods["grad_cam"].values["deletion_auc"][i] == pytest.approx(
            auc(curves["deletion_curve"]), abs=1e-5
        )
    heading, _ = report.write_report(result, tmp_path / "out")
    assert heading.startswith("2 images, protocol default: 4 steps")
    rows = list(csv.DictReader(open(tmp_path / "out" / "per_image.csv")))
    assert [r["image"] for r in rows] == ["coffee.png", "cat.png"]


def test_evaluate_cli_rejects_bad_input_in_one_line(capsys):
    from gradcam.cli import main

    assert main(["evaluate", "--methods", "nosuch", "x.png"]) == 2
    assert main(["evaluate", "--steps", "0", "x.png"]) == 2
    assert capsys.readouterr().err.count("gradcam: error:") == 2


def test_evaluate_command_end_to_end_writes_its_table(
    cli, coffee_input, cat_input, tmp_path, capsys
):
    import csv
    import json

    from PIL import Image

    for name, image in (("coffee.png", coffee_input), ("cat.png", cat_input)):
        Image.fromarray(image).save(tmp_path / name)
    (tmp_path / "boxes.json").write_text(
        json.dumps({"coffee.png": [[20, 20, 200, 200]], "cat.png": [[0, 0, 224, 224]]})
    )
    out = tmp_path / "eval"
    assert (
        cli(
            [
                "evaluate",
                str(tmp_path / "coffee.png"),
                str(tmp_path / "cat.png"),
                "--methods",
                "grad_cam,gradient",
                "--steps",
                "4",
                "--boxes",
                str(tmp_path / "boxes.json"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    assert [(r["method"], r["image"].rsplit("/", 1)[-1]) for r in rows] == [
        ("grad_cam", "coffee.png"),
        ("grad_cam", "cat.png"),
        ("gradient", "coffee.png"),
        ("gradient", "cat.png"),
    ]
    assert all(
        0 <= float(r["deletion_auc"]) <= 1 and float(r["pointing_hit"]) in (0, 100) for r in rows
    )
    assert rows[1]["pointing_hit"] == "100"  # the cat's box is the whole image
    printed = capsys.readouterr().out
    assert "| grad_cam |" in printed and "pointing game" in printed
    assert (out / "curves.png").stat().st_size > 0 and (out / "summary.csv").exists()


def test_ties_are_broken_at_random_not_in_raster_order():
    saliency = np.zeros((32, 32))
    saliency[5, 7] = 1.0
    ranks = perturbation.pixel_ranks(saliency)
    assert ranks[5, 7] == 0 and sorted(ranks.ravel()) == list(range(1024))
    plateau = np.delete(ranks.ravel(), 5 * 32 + 7)
    assert abs(np.corrcoef(plateau, np.arange(plateau.size))[0, 1]) < 0.1  # not top rows first
    np.testing.assert_array_equal(perturbation.pixel_ranks(saliency), ranks)  # seeded
