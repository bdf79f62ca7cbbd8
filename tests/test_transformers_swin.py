"""A Swin-like windowed transformer as a model file (built offline with random weights by
tests/swin_models.py in its own eager process): the default layer is the last stage's output
tokens, on the patch grid halved by the patch merging; Grad-CAM there and at stage 1 equals an
eager GradientTape reference (no prefix dropped, reshaped to the grid); every CAM-family method
runs on it; the tensors inside windowed attention (windows folded into the batch) are not offered
as layers and are refused by name in one line, and so are the attention methods and a grid the
layer cannot have."""

import warnings

import numpy as np
import pytest
from test_transformers import CAM_FAMILY, TARGETS, _close

from gradcam.cli import main
from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.model import Model

from eager_builds import build_models

WINDOWED = ("stage_1_attention", "stage_2_attention", "stage_1_attention/attention_output")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_models("swin_models.py", tmp_path_factory.mktemp("swin_models"))


@pytest.fixture(scope="module")
def path(built):
    return built[0] / "swin.keras"


@pytest.fixture(scope="module")
def ref(built):
    return built[1]


@pytest.fixture(scope="module")
def swin(path):
    model = Model(path)
    yield model
    model.close()


def test_default_is_the_last_stage_tokens_on_the_merged_grid(swin, path, capsys):
    assert swin.default_layer == "norm"
    assert "pools every token" in swin.default_reason
    assert main(["list", "layers", "--model-file", str(path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: " ".join(line.split()[1:]) for line in out.splitlines()[1:]}
    assert rows["norm"] == "tokens 16 = 4x4, 32 channels (default)"
    assert rows["stage_2"] == "tokens 16 = 4x4, 32 channels"
    assert rows["stage_1"] == "tokens 64 = 8x8, 16 channels"
    assert rows["patch_embed"] == "8x8x16"
    assert "default layer norm: the head pools every token" in out
    # window tokens (16 per window in stage 1, 4 in stage 2) would read as 4x4 or 2x2 grids
    assert not any(k.startswith(WINDOWED[:2]) for k in rows), rows
    assert not any(v.startswith(("tokens 16 = 4x4, 16 ", "tokens 4 ")) for v in rows.values())
    assert not set(WINDOWED) & set(swin.layer_names)


@pytest.mark.parametrize("layer", ["norm", "stage_1"])
def test_grad_cam_equals_the_eager_reference(swin, ref, layer):
    result = explain(swin, ref["swin_images"], TARGETS, layer=layer)
    _close(result.logits, ref["swin_logits"])
    expected = ref["swin_grad_cam" if layer == "norm" else "swin_grad_cam_stage_1"]
    assert result.lowres.shape == expected.shape == (2, *((4, 4) if layer == "norm" else (8, 8)))
    _close(result.lowres, expected)
    assert result.map.shape == (2, 32, 32)


@pytest.mark.parametrize("method", CAM_FAMILY)
def test_every_cam_method_works_at_the_default_layer(swin, ref, method):
    options = {"max_channels": 4} if method in ("ablation_cam", "score_cam") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Score-CAM of random weights may find no evidence
        result = explain(swin, ref["swin_images"][:1], 1, method, **options)
    assert result.lowres.shape == (1, 4, 4) and np.isfinite(result.lowres).all()
    if method != "score_cam":
        assert np.abs(result.lowres).max() > 0


def test_windowed_attention_and_impossible_grids_are_refused_in_one_line(swin, path, ref, capsys):
    images = ref["swin_images"][:1]
    for layer in WINDOWED:
        with pytest.raises(UserError, match="is inside windowed attention"):
            explain(swin, images, 1, layer=layer)
    with pytest.raises(UserError, match="'stage_1_attention' is inside windowed attention"):
        Model.from_file(path, layer_tensor="stage_1_attention")
    for method in ("attention_rollout", "generic_attention"):
        with pytest.raises(UserError, match="2 attention blocks attend within windows"):
            explain(swin, images, 1, method)
    args = ["list", "layers", "--model-file", str(path), "--grid", "5x5"]
    assert main(args) == 2
    err = capsys.readouterr().err
    expected = "has prefix tokens and a 5x5 grid (--grid): its token layers have 16/64 tokens"
    assert err.count("\n") == 1 and expected in err, err
    with pytest.raises(UserError, match="has 1 prefix tokens and a 4x4 grid .*: its token layers"):
        Model.from_file(path, tokens=1, grid=(4, 4))
    assert main(["list", "layers", "--model-file", str(path), "--layer-tensor", WINDOWED[0]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--layer-tensor 'stage_1_attention' is inside" in err, err
