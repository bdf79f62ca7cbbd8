"""target=None means each image's top class: one-pass methods leave it to the graph's default
(no prediction run), the others predict first; both must equal an explicit argmax target."""

import numpy as np
import pytest

from gradcam.explanation import explain
from gradcam.methods import METHODS


@pytest.fixture(scope="module")
def two_photos(cat_input, coffee_input):
    return np.stack([cat_input, coffee_input])


@pytest.mark.parametrize(
    "method", sorted(m.name for m in METHODS.values() if m.graph_default_target)
)
def test_graph_default_target_equals_explicit_top_class(lite0, two_photos, method):
    top = lite0.predict(two_photos).argmax(axis=1)
    assert list(top) != [top[0]] * 2  # two different classes, so a mix-up would show
    implicit = explain(lite0, two_photos, None, method)
    explicit = explain(lite0, two_photos, top, method)
    np.testing.assert_array_equal(implicit.target, top)
    np.testing.assert_allclose(implicit.raw, explicit.raw, rtol=1e-5, atol=1e-6)


def test_graph_default_target_adds_no_ops_and_no_prediction(lite0, two_photos, monkeypatch):
    explain(lite0, two_photos, None, "grad_cam")
    ops = lite0.op_count
    monkeypatch.setattr(lite0, "predict", lambda *a, **k: pytest.fail("predict was called"))
    explain(lite0, two_photos, None, "grad_cam")
    assert lite0.op_count == ops


def test_multi_pass_method_predicts_the_top_class_first(lite0, two_photos):
    top = lite0.predict(two_photos).argmax(axis=1)
    result = explain(lite0, two_photos, None, "smoothgrad", samples=2, noise=0.1, seed=3)
    explicit = explain(lite0, two_photos, top, "smoothgrad", samples=2, noise=0.1, seed=3)
    np.testing.assert_array_equal(result.target, top)
    np.testing.assert_allclose(result.raw, explicit.raw, rtol=1e-5, atol=1e-6)


def test_explain_many_shares_one_pass_and_equals_explain(lite0, coffee_input, monkeypatch):
    from gradcam.explanation import explain_many
    from gradcam.methods import get_method

    shared = ["grad_cam", "grad_cam_pp", "cam", "guided_grad_cam"]
    assert all(get_method(name).options == [] for name in shared)  # the call shape, nothing more
    images, targets = np.stack([coffee_input] * 2), [967, 968]
    alone = {name: explain(lite0, images, targets, name) for name in shared + ["gradient"]}
    runs = []
    real_run = lite0.session.run
    monkeypatch.setattr(lite0.session, "run", lambda *a, **k: runs.append(1) or real_run(*a, **k))
    together = explain_many(lite0, images, targets, shared + ["gradient"])
    assert len(runs) == 2  # one for the four shared methods, one for the gradient
    assert list(together) == shared + ["gradient"]
    for name, result in together.items():
        np.testing.assert_allclose(result.map, alone[name].map, atol=1e-5)
        np.testing.assert_array_equal(result.target, targets)


@pytest.mark.parametrize(
    "method,options",
    [("occlusion", {"patch": 112, "stride": 56}), ("score_cam", {"max_channels": 6})],
)
def test_targets_of_one_image_share_the_perturbed_copies(
    lite0, coffee_input, monkeypatch, method, options
):
    targets = [967, 968, 504]
    alone = [explain(lite0, coffee_input[None], [t], method, **options) for t in targets]
    fed = []
    real_run = lite0.session.run

    def counting(fetches, feed_dict=None, **kwargs):
        fed.append(len(feed_dict[lite0.input_tensor]))
        return real_run(fetches, feed_dict, **kwargs)

    monkeypatch.setattr(lite0.session, "run", counting)
    together = explain(lite0, np.stack([coffee_input] * 3), targets, method, **options)
    single = sum(fed)
    fed.clear()
    explain(lite0, coffee_input[None], [targets[0]], method, **options)
    assert single == sum(fed)  # three targets cost what one does
    for i, result in enumerate(alone):
        np.testing.assert_allclose(together.map[i], result.map[0], atol=1e-5)
