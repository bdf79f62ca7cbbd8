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

from methods_toynet import SIZE, backward, forward, toy_fixtures

TARGET = np.array([0, 2, 3])
CONTRAST = 1


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
    view = toy.scoring(CONTRAST, score)
    out = view.fetch(images, TARGET, ["score", "logits"])
    np.testing.assert_allclose(out["score"], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(view.score_of(out["logits"], TARGET), expected, rtol=1e-4, atol=1e-6)
    # the model itself still explains the plain logit
    np.testing.assert_allclose(
        toy.fetch(images, TARGET, ["score"])["score"],
        logits[np.arange(3), TARGET],
        rtol=1e-4,
        atol=1e-5,
    )


def test_scoring_checks_its_arguments(toy):
    assert toy.scoring() is toy
    with pytest.raises(UserError, match="unknown score 'odds'"):
        toy.scoring(None, "odds")
    with pytest.raises(UserError, match="out of range"):
        toy.scoring(9)


# -- gradient methods against numpy --------------------------------------------------------------
def test_grad_cam_of_a_contrast_is_the_difference_of_the_two_maps(toy, weights, images):
    view = toy.scoring(CONTRAST)
    rather = run(view, "grad_cam", images, layer="conv1").raw
    target = run(toy, "grad_cam", images, layer="conv1").raw
    other = get_method("grad_cam").fn(toy, images, np.full(3, CONTRAST), layer="conv1").raw
    np.testing.assert_allclose(rather, target - other, rtol=1e-5, atol=1e-5)
    g = contrast_gradients(weights, images, "grad_a")
    expected = np.einsum("nhwc,nc->nhw", forward(weights, images)["a"], g.mean(axis=(1, 2)))
    np.testing.assert_allclose(rather, expected, rtol=1e-4, atol=1e-5)


def test_layer_cam_and_gradient_of_a_contrast_match_numpy(toy, weights, images):
    view = toy.scoring(CONTRAST)
    g = contrast_gradients(weights, images, "grad_a")
    expected = np.einsum("nhwc,nhwc->nhw", forward(weights, images)["a"], np.maximum(g, 0))
    np.testing.assert_allclose(
        run(view, "layer_cam", images, layer="conv1").raw, expected, rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        run(view, "gradient", images).raw,
        contrast_gradients(weights, images, "grad_x"),
        rtol=1e-4,
        atol=1e-7,
    )


def test_probability_score_gradients_match_numpy(toy, weights, images):
    view = toy.scoring(None, "probability")
    g = probability_gradients(weights, images, "grad_a")
    expected = np.einsum("nhwc,nhwc->nhw", forward(weights, images)["a"], g)
    np.testing.assert_allclose(
        run(view, "hires_cam", images, layer="conv1").raw, expected, rtol=1e-3, atol=1e-8
    )
    np.testing.assert_allclose(
        run(view, "gradient", images).raw,
        probability_gradients(weights, images, "grad_x"),
        rtol=1e-3,
        atol=1e-9,
    )


def test_integrated_gradients_of_a_contrast_is_the_difference(toy, images):
    """IG is linear in the function: IG of f_t - f_c is IG of f_t minus IG of f_c, and so is its
    completeness gap."""
    rather = run(toy.scoring(CONTRAST), "integrated_gradients", images, steps=4)
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
        run(toy.scoring(CONTRAST), "cam", images).raw, expected, rtol=1e-4, atol=1e-5
    )
    with pytest.raises(UserError, match="probability does not apply"):
        run(toy.scoring(None, "probability"), "cam", images)


# -- perturbation methods explain the same score ---------------------------------------------------
def test_occlusion_of_a_contrast_is_the_drop_of_the_difference(toy, weights, images):
    view = toy.scoring(CONTRAST, "probability")

    def score(x):
        p = softmax(forward(weights, x)["logits"])
        return p[:, TARGET] - p[:, [CONTRAST]]  # [copies, rows]

    result = run(view, "occlusion", images, patch=8, stride=8, fill="zero")
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
    from gradcam import postprocess

    b = forward(weights, images)["b"]
    black = softmax(forward(weights, np.zeros((1, SIZE, SIZE, 3)))["logits"])[0]
    expected = np.zeros(b.shape[:3])
    for n, t in enumerate(TARGET):
        masks = postprocess.normalize(postprocess.upsample(np.moveaxis(b[n], -1, 0), SIZE))
        p = softmax(forward(weights, images[n][None] * masks[..., None])["logits"])
        gain = (p[:, t] - p[:, CONTRAST]) - (black[t] - black[CONTRAST])
        expected[n] = np.einsum("hwc,c->hw", b[n], gain)
    np.testing.assert_allclose(
        run(toy.scoring(CONTRAST), "score_cam", images).raw, expected, rtol=1e-3, atol=1e-5
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
        run(toy.scoring(CONTRAST), "ablation_cam", images).raw, expected, rtol=1e-4, atol=1e-5
    )


def test_rise_of_a_contrast_weighs_the_masks_by_the_difference(toy, weights, images):
    masks = np.concatenate(list(rise_masks(12, SIZE, 4, 0.5, seed=0, batch_size=12)))
    kept = masks[..., None]
    result = get_method("rise").fn(
        toy.scoring(CONTRAST, "probability"), images[:1], TARGET[:1], masks=12, cells=4
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


def test_eigen_cam_refuses_a_contrast_and_a_probability(toy, images):
    with pytest.raises(UserError, match="eigen_cam uses no class score"):
        explain(toy, images, 0, "eigen_cam", contrast=1)
    with pytest.raises(UserError, match="eigen_cam uses no class score"):
        explain(toy, images, 0, "eigen_cam", score="probability")


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
            if name != "eigen_cam":
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
    graph and in ``score_of``, from the eager references of tests/keras_models.py."""
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
        view = model.scoring(1, "probability")
        out = view.fetch(images, target, ["score", "logits"])
        np.testing.assert_allclose(out["score"], expected, atol=1e-6)
        np.testing.assert_allclose(view.score_of(out["logits"], target), expected, atol=1e-6)
    finally:
        model.close()
