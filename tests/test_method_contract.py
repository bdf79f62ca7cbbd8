"""The contract every registered method keeps, checked for each one with its registered smoke
options (captum keeps such a table beside its tests; here the registry is that table):

- rows are independent: explaining in batches of one equals one batch, reordering the rows
  reorders the results, and a row repeated is the row alone;
- no call after the first adds an op to the graph;
- the raw output is finite and has the declared shape (a "positive" display with ``lowres``: the
  layer's [N, h, w]; other "positive": [N, S, S]; "magnitude": [N, S, S, 3]);
- every module under gradcam/methods that registers a method is imported by the package;
- the methods use nothing of a model outside ``gradcam.methods.protocol.Explainable`` (an ast walk
  over every ``model.<name>``), and ``gradcam.Model`` is an ``Explainable``.

Methods that explain attention (``ATTENTION_METHODS``) are held to the same contract on a small
vision transformer (tests/vit_models.py, class token, random weights) instead of the CNN.
"""

import ast
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import gradcam.methods
from gradcam.explanation import explain
from gradcam.methods import ATTENTION_METHODS, METHODS
from gradcam.methods.protocol import MEMBERS, Explainable
from gradcam.model import Model

from conftest import photo
from eager_builds import build_models

ROWS = ("chelsea", "coffee", "astronaut")
EVERY = {**METHODS, **ATTENTION_METHODS}


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    """A two-block ViT with a class token (random weights), built in its own eager process."""
    out, _ = build_models("vit_models.py", tmp_path_factory.mktemp("vit"), "vit_cls")
    model = Model(out / "vit_cls.keras")
    yield model
    model.close()


@pytest.fixture
def case(request, lite0, rows):
    """(model, images, targets) a method is checked on: the CNN, or the ViT for attention."""
    if not EVERY[request.param].requires_attention:
        return (lite0, *rows)
    vit = request.getfixturevalue("vit")
    images = np.stack([vit.prepare(photo(name)) for name in ROWS])
    return vit, images, (vit.predict(images).argmax(axis=1) + 1) % vit.num_classes


@pytest.fixture(scope="module")
def rows(lite0):
    """Three different images and, for each, a class other than its top one (so a mix-up shows)."""
    images = np.stack([lite0.prepare(photo(name)) for name in ROWS])
    second = lite0.predict(images).argsort(axis=1)[:, -2]
    assert len(set(second.tolist())) == len(ROWS)
    return images, second


def _run(lite0, name, images, targets, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a Score-CAM map without evidence: not the point here
        return explain(lite0, images, targets, name, **EVERY[name].smoke, **kwargs)


def _close(a, b):
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-12)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("case, name", [(n, n) for n in EVERY], indirect=["case"])
def test_rows_are_independent_and_no_ops_are_added(case, name):
    lite0, images, targets = case
    whole = _run(lite0, name, images, targets)
    ops = lite0.op_count
    one_by_one = _run(lite0, name, images, targets, batch_size=1)
    order = [2, 0, 1]
    reordered = _run(lite0, name, images[order], targets[order])
    repeated = _run(lite0, name, images[[1, 1]], targets[[1, 1]])
    assert lite0.op_count == ops, "a call after the first added ops to the graph"
    _close(one_by_one.raw, whole.raw)
    _close(reordered.raw, whole.raw[order])
    _close(repeated.raw, np.repeat(whole.raw[1:2], 2, axis=0))
    np.testing.assert_array_equal(reordered.target, targets[order])


@pytest.mark.parametrize("case, name", [(n, n) for n in EVERY], indirect=["case"])
def test_raw_output_is_finite_with_the_declared_shape(case, name):
    lite0, images, targets = case
    method = EVERY[name]
    result = _run(lite0, name, images, targets)
    size = lite0.image_size
    if method.display == "magnitude":
        expected = (3, size, size, 3)
    elif method.lowres:
        _, h, w, _ = lite0.fetch(images[:1], keys=["activations"])["activations"].shape
        expected = (3, h, w)
    else:
        expected = (3, size, size)
    raw = method.fn(lite0, images, targets, **method.smoke).raw  # before explain's nan_to_num
    assert raw.shape == expected and np.all(np.isfinite(raw))
    assert (result.lowres is not None) == method.lowres
    if method.lowres:
        assert result.lowres.shape == expected


def test_every_module_that_registers_a_method_is_imported():
    folder = Path(gradcam.methods.__file__).parent
    registering = {
        path.stem
        for path in folder.glob("*.py")
        if re.search(r"^@register\(", path.read_text(), re.MULTILINE)
    }
    registered = {method.fn.__module__.rsplit(".", 1)[-1] for method in EVERY.values()}
    assert registering == registered


def model_members_used(source: str) -> set:
    """Every ``<name>`` of ``model.<name>`` in a module's source (``model`` being the name every
    method gives the model it is passed)."""
    return {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "model"
    }


def test_the_member_walk_sees_what_a_method_uses():
    source = "def m(model, x):\n    model.fetch(x)\n    return model.session.run(model.graph)\n"
    assert model_members_used(source) == {"fetch", "session", "graph"}


def test_methods_use_only_the_explainable_protocol(lite0):
    folder = Path(gradcam.methods.__file__).parent
    outside = {
        path.name: sorted(model_members_used(path.read_text()) - MEMBERS)
        for path in sorted(folder.glob("*.py"))
    }
    assert {name: used for name, used in outside.items() if used} == {}
    assert isinstance(lite0, Explainable)
    assert MEMBERS == {
        "fetch",
        "fetch_above",
        "predict",
        "check_target",
        "input_size",
        "activation",
        "name",
        "attention_tokens",
        "prepare",
    }
