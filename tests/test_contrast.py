"""Targets beyond one logit: "why A rather than B" (the score logit_A - logit_B) and the softmax
probability as the score, for every method, against numpy on the toy network and identities on
EfficientNet-Lite0; one graph for every score, shared safely between threads."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from gradcam.errors import UserError
from gradcam.explanation import explain, explain_many
from gradcam.methods import METHODS, get_method
from gradcam.methods.rise_math import rise_masks
from gradcam.score import LOGIT, Score

from methods_toynet import SIZE, backward, forward, toy_fixtures

TARGET = np.array([0, 2, 3])
CONTRAST = 1
RATHER = Score(contrast=CONTRAST)  # the target's logit rather than the contrast's
PROBABILITY = Score(kind="probability")


weights, toy, images = toy_fixtures("toy_contrast", 4, 5, rows=3)


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def contrast_gradients(weights, images, key):
    """d(logit_t - logit_c) / d(``key``) of the toy: the difference of two closed forms."""
    other = np.full(len(images), CONTRAST)
    return backward(weights, images, TARGET)[key] - backward(weights, images, other)[key]


def probability_gradients(weights, images, key):
    """d p_t / d(``key``) = sum_j p_t (delta_tj - p_j) d logit_j / d(``key``)."""
    p = softmax(forward(weights, images)["logits"])
    rows = np.arange(len(images))
    total = 0
    for j in range(p.shape[1]):
        coefficient = p[rows, TARGET] * ((TARGET == j) - p[:, j])
        gradient = backward(weights, images, np.full(len(images), j))[key]
        total = total + coefficient[:, None, None, None] * gradient
    return total


def run(model, name, images, **options):
    return get_method(name).fn(model, images, TARGET, **options)


# -- the score itself -----------------------------------------------------------------------------
@pytest.mark.parametrize("score", ["logit", "probability"])
def test_fetched_score_is_the_numpy_score(toy, weights, images, score):
    logits = forward(weights, images)["logits"]
    values = logits if score == "logit" else softmax(logits)
    expected = values[np.arange(3), TARGET] - values[:, CONTRAST]
    wanted = Score(kind=score, contrast=CONTRAST)
    out = toy.fetch(images, TARGET, ["score", "logits"], score=wanted)
    np.testing.assert_allclose(out["score"], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(wanted.of(out["logits"], TARGET), expected, rtol=1e-4, atol=1e-6)
    # without a score the model explains the plain logit
    np.testing.assert_allclose(
        toy.fetch(images, TARGET, ["score"])["score"],
        logits[np.arange(3), TARGET],
        rtol=1e-4,
        atol=1e-5,
    )


def test_score_checks_its_arguments(toy, images):
    assert Score() == LOGIT and LOGIT.is_default and not RATHER.is_default
    with pytest.raises(UserError, match="unknown score 'odds'"):
        Score(kind="odds")
    with pytest.raises(UserError, match="out of range"):
        Score(contrast=9).resolve(toy.labels)
    with pytest.raises(UserError, match="out of range"):
        toy.fetch(images, TARGET, ["score"], score=Score(contrast=9))
    assert Score(contrast="class 1").resolve(toy.labels) == RATHER
    assert Score.of_arguments("probability", 1) == Score(kind="probability", contrast=1)
    assert Score.of_arguments(RATHER) is RATHER
    with pytest.raises(UserError, match="differ"):
        Score.of_arguments(RATHER, 2)
    with pytest.raises(ValueError, match="resolve"):
        Score(contrast="class 1").of(np.zeros((1, 4)), 0)


def test_explain_stores_the_score_whole(toy, images):
    result = explain(toy, images, TARGET, "grad_cam", contrast="class 1", score="probability")
    assert result.score == Score(kind="probability", contrast=CONTRAST)
    assert result.contrast == CONTRAST
    again = explain(toy, images, TARGET, "grad_cam", score=result.score)
    np.testing.assert_array_equal(again.raw, result.raw)
    assert explain(toy, images, TARGET, "grad_cam").score == LOGIT


# -- gradient methods against numpy --------------------------------------------------------------
def test_grad_cam_of_a_contrast_is_the_difference_of_the_two_maps(toy, weights, images):
    rather = run(toy, "grad_cam", images, layer="conv1", score=RATHER).raw
    target = run(toy, "grad_cam", images, layer="conv1").raw
    other = get_method("grad_cam").fn(toy, images, np.full(3, CONTRAST), layer="conv1").raw
    np.testing.assert_allclose(rather, target - other, rtol=1e-5, atol=1e-5)
    g = contrast_gradients(weights, images, "grad_a")
    expected = np.einsum("nhwc,nc->nhw", forward(weights, images)["a"], g.mean(axis=(1, 2)))
    np.testing.assert_allclose(rather, expected, rtol=1e-4, atol=1e-5)


def test_layer_cam_and_gradient_of_a_contrast_match_numpy(toy, weights, images):
    g = contrast_gradients(weights, images, "grad_a")
    expected = np.einsum("nhwc,nhwc->nhw", forward(weights, images)["a"], np.maximum(g, 0))
    np.testing.assert_allclose(
        run(toy, "layer_cam", images, layer="conv1", score=RATHER).raw,
        expected,
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        run(toy, "gradient", images, score=RATHER).raw,
        contrast_gradients(weights, images, "grad_x"),
        rtol=1e-4,
        atol=1e-7,
    )


def test_probability_score_gradients_match_numpy(toy, weights, images):
    g = probability_gradients(weights, images, "grad_a")
    expected = np.einsum("nhwc,nhwc->nhw", forward(weights, images)["a"], g)
    np.testing.assert_allclose(
        run(toy, "hires_cam", images, layer="conv1", score=PROBABILITY).raw,
        expected,
        rtol=1e-3,
        atol=1e-8,
    )
    np.testing.assert_allclose(
        run(toy, "gradient", images, score=PROBABILITY).raw,
        probability_gradients(weights, images, "grad_x"),
        rtol=1e-3,
        atol=1e-9,
    )


def test_integrated_gradients_of_a_contrast_is_the_difference(toy, images):
    """IG is linear in the function: IG of f_t - f_c is IG of f_t minus IG of f_c, and so is its
    completeness gap."""
    rather = run(toy, "integrated_gradients", images, steps=4, score=RATHER)
    target = run(toy, "integrated_gradients", images, steps=4)
    other = get_method("integrated_gradients").fn(toy, images, np.full(3, CONTRAST), steps=4)
    np.testing.assert_allclose(rather.raw, target.raw - other.raw, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        rather.extras["completeness_gap"],
        target.extras["completeness_gap"] - other.extras["completeness_gap"],
        rtol=1e-3,
        atol=1e-4,
    )


def test_cam_of_a_contrast_weighs_by_the_difference_of_the_columns(toy, weights, images):
    b = forward(weights, images)["b"]
    w = weights["logits/weights"]
    expected = np.einsum("nhwc,cn->nhw", b, w[:, TARGET] - w[:, [CONTRAST]])
    np.testing.assert_allclose(
        run(toy, "cam", images, score=RATHER).raw, expected, rtol=1e-4, atol=1e-5
    )
    with pytest.raises(UserError, match="probability does not apply"):
        run(toy, "cam", images, score=PROBABILITY)


# -- perturbation methods explain the same score ---------------------------------------------------
def test_occlusion_of_a_contrast_is_the_drop_of_the_difference(toy, weights, images):
    def score(x):
        p = softmax(forward(weights, x)["logits"])
        return p[:, TARGET] - p[:, [CONTRAST]]  # [copies, rows]

    result = run(
        toy,
        "occlusion",
        images,
        patch=8,
        stride=8,
        fill="zero",
        score=Score(kind="probability", contrast=CONTRAST),
    )
    for n in range(3):
        expected = np.zeros((SIZE, SIZE))
        for top in (0, 8):
            for left in (0, 8):
                copy = images[n].copy()
                copy[top : top + 8, left : left + 8] = 0
                drop = score(images[n][None])[0, n] - score(copy[None])[0, n]
                expected[top : top + 8, left : left + 8] = drop
        np.testing.assert_allclose(result.raw[n], expected, rtol=1e-3, atol=1e-6)


def test_score_cam_of_a_contrast_weighs_by_probability_difference_gains(toy, weights, images):
    from gradcam import arrays

    b = forward(weights, images)["b"]
    black = softmax(forward(weights, np.zeros((1, SIZE, SIZE, 3)))["logits"])[0]
    expected = np.zeros(b.shape[:3])
    for n, t in enumerate(TARGET):
        masks = arrays.normalize(arrays.upsample(np.moveaxis(b[n], -1, 0), SIZE))
        p = softmax(forward(weights, images[n][None] * masks[..., None])["logits"])
        gain = (p[:, t] - p[:, CONTRAST]) - (black[t] - black[CONTRAST])
        expected[n] = np.einsum("hwc,c->hw", b[n], gain)
    np.testing.assert_allclose(
        run(toy, "score_cam", images, score=RATHER).raw, expected, rtol=1e-3, atol=1e-5
    )
    # Score-CAM explains the probability whatever the score's kind (registered score_kind)
    assert METHODS["score_cam"].score_kind == "probability"
    np.testing.assert_array_equal(
        run(toy, "score_cam", images, score=Score(kind="probability", contrast=CONTRAST)).raw,
        run(toy, "score_cam", images, score=RATHER).raw,
    )


def test_ablation_cam_of_a_contrast_has_the_closed_form(toy, weights, images):
    f = forward(weights, images)
    b, w = f["b"], weights["logits/weights"]
    expected = np.zeros(b.shape[:3])
    for n, t in enumerate(TARGET):
        y = f["logits"][n, t] - f["logits"][n, CONTRAST]
        drops = (w[:, t] - w[:, CONTRAST]) * b[n].mean(axis=(0, 1))
        expected[n] = np.einsum("hwc,c->hw", b[n], drops / abs(y))
    np.testing.assert_allclose(
        run(toy, "ablation_cam", images, score=RATHER).raw, expected, rtol=1e-4, atol=1e-5
    )


def test_rise_of_a_contrast_weighs_the_masks_by_the_difference(toy, weights, images):
    masks = np.concatenate(list(rise_masks(12, SIZE, 4, 0.5, seed=0, batch_size=12)))
    kept = masks[..., None]
    result = get_method("rise").fn(
        toy,
        images[:1],
        TARGET[:1],
        masks=12,
        cells=4,
        score=Score(kind="probability", contrast=CONTRAST),
    )
    p = softmax(forward(weights, images[0][None] * kept)["logits"])
    f = p[:, TARGET[0]] - p[:, CONTRAST]
    expected = np.tensordot(f - f.mean(), masks, axes=1) / (12 * 0.5)
    np.testing.assert_allclose(result.raw[0], expected, rtol=1e-3, atol=1e-6)


# -- refusals and flags --------------------------------------------------------------------------
def test_contrast_equal_to_a_given_target_is_refused(toy, images):
    with pytest.raises(UserError, match=r"contrast class .*\(2\) is also the target"):
        explain(toy, images, [1, 2, 3], "grad_cam", contrast=2)
    with pytest.raises(UserError, match="is also the target"):
        explain_many(toy, images, 2, ["grad_cam", "occlusion"], contrast="2")


SCORELESS = [m.name for m in METHODS.values() if not m.uses_score]


@pytest.mark.parametrize("name", SCORELESS)
def test_a_method_without_a_score_refuses_a_contrast_and_a_probability(toy, images, name):
    for kwargs in ({"contrast": 1}, {"score": "probability"}):
        with pytest.raises(UserError, match=f"{name} uses no class score"):
            explain(toy, images, 0, name, **kwargs)
        with pytest.raises(UserError, match=f"{name} uses no class score"):
            explain_many(toy, images, 0, ["grad_cam", name], **kwargs)
    explain(toy, images, 0, name)  # the default score is fine


def test_eigen_cam_is_registered_without_a_score():
    assert SCORELESS == ["eigen_cam"]


def test_top_class_equal_to_the_contrast_gets_a_flagged_zero_map(toy, images):
    top = toy.predict(images).argmax(axis=1)
    contrast = int(top[0])
    with pytest.warns(UserWarning, match="contrast class"):
        result = explain(toy, images, None, "grad_cam", contrast=contrast)
    same = top == contrast
    assert same.any() and np.array_equal(result.degenerate, same | result.degenerate)
    assert (result.map[same] == 0).all() and result.degenerate[same].all()
    assert result.contrast == contrast and result.npz_arrays(0)["contrast"] == contrast


# -- one graph, any score, any thread --------------------------------------------------------------
def test_concurrent_scores_on_one_model_do_not_mix(toy, images):
    settings = [
        (None, "logit"),
        (CONTRAST, "logit"),
        (None, "probability"),
        (CONTRAST, "probability"),
    ]
    expected = [
        explain(toy, images, TARGET, "grad_cam", contrast=c, score=s).raw for c, s in settings
    ]
    ops = toy.op_count
    jobs = [settings[i % 4] for i in range(16)]
    with ThreadPoolExecutor(4) as pool:
        raws = list(
            pool.map(
                lambda cs: (
                    explain(toy, images, TARGET, "grad_cam", contrast=cs[0], score=cs[1]).raw
                ),
                jobs,
            )
        )
    for i, raw in enumerate(raws):
        np.testing.assert_array_equal(raw, expected[i % 4])
    assert toy.op_count == ops


def test_no_method_adds_ops_after_its_first_call_whatever_the_score(lite0, coffee_input):
    new = ("layer_cam", "xgrad_cam", "hires_cam", "eigen_cam", "ablation_cam", "rise")
    image = coffee_input[None]

    def every_method():
        for name in new:
            explain(lite0, image, 967, name, **METHODS[name].smoke)
            if METHODS[name].uses_score:
                explain(
                    lite0,
                    image,
                    967,
                    name,
                    contrast=504,
                    score="probability",
                    **METHODS[name].smoke,
                )
        explain_many(lite0, image, 967, list(new[:4]))

    every_method()
    ops = lite0.op_count
    every_method()
    assert lite0.op_count == ops


# -- EfficientNet-Lite0 ----------------------------------------------------------------------------
def test_lite0_grad_cam_of_a_contrast_is_the_difference_of_the_raw_maps(lite0, coffee_input):
    image = coffee_input[None]
    rather = explain(lite0, image, "espresso", contrast="cup").lowres
    espresso = explain(lite0, image, "espresso").lowres
    cup = explain(lite0, image, "cup").lowres
    scale = np.abs(espresso).max()
    np.testing.assert_allclose(rather, espresso - cup, rtol=1e-4, atol=1e-5 * scale)
    assert not np.allclose(rather, espresso, atol=1e-2 * scale)


def test_lite0_gradient_of_a_contrast_is_the_difference(lite0, coffee_input):
    image = coffee_input[None]
    rather = explain(lite0, image, 967, "gradient", contrast=968).raw
    difference = (
        explain(lite0, image, 967, "gradient").raw - explain(lite0, image, 968, "gradient").raw
    )
    np.testing.assert_allclose(rather, difference, rtol=1e-3, atol=1e-3 * np.abs(difference).max())


def test_probability_score_of_a_sigmoid_head_is_each_class_sigmoid(tmp_path):
    """A multi-label (sigmoid) head: the probability score is sigmoid(l_t) - sigmoid(l_c), in the
    graph and in ``Score.of``, from the eager references of tests/keras_models.py."""
    import subprocess
    import sys
    from pathlib import Path

    from gradcam.model import Model

    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, str(root / "tests" / "keras_models.py"), str(tmp_path)],
        check=True,
        cwd=root,
        capture_output=True,
    )
    ref = np.load(tmp_path / "references.npz")
    model = Model(tmp_path / "k3_multilabel.keras")
    try:
        assert model.activation == "sigmoid"
        images, logits = ref["images"], ref["multilabel_logits"].astype(np.float64)
        target = (np.arange(len(images)) % 2) * 2  # classes 0 and 2, never 1 (the contrast)
        p = 1.0 / (1.0 + np.exp(-logits))
        expected = p[np.arange(len(images)), target] - p[:, 1]
        wanted = Score(kind="probability", contrast=1)
        out = model.fetch(images, target, ["score", "logits"], score=wanted)
        np.testing.assert_allclose(out["score"], expected, atol=1e-6)
        np.testing.assert_allclose(
            wanted.of(out["logits"], target, model.activation), expected, atol=1e-6
        )
    finally:
        model.close()
