"""Vision transformers and ConvNeXt as model files (built offline with random weights by
tests/vit_models.py in its own eager process): token layers explained as maps of their patch
grid, equal to eager GradientTape references that drop the prefix tokens and reshape; the
default layer per family, from what the head reads; attention rollout and generic attention
equal to numpy over the attention probabilities that ``MultiHeadAttention(...,
return_attention_scores=True)`` returns; keras-hub files load without trust while Lambda bytecode
and unknown modules are still refused; a live Keras model is traced like its file."""

import warnings

import numpy as np
import pytest

from gradcam.cli import main
from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.loaders.keras_config import code_objects
from gradcam.model import Model

from eager_builds import build_models

TARGETS = np.array([1, 3], np.int32)
PREFIX = {"vit_cls": 1, "vit_dist": 2, "vit_mean": 0}
DEFAULTS = {"vit_cls": "block_2_norm1", "vit_dist": "block_2_norm1", "vit_mean": "norm"}
CAM_FAMILY = (
    "grad_cam",
    "grad_cam_pp",
    "layer_cam",
    "hires_cam",
    "xgrad_cam",
    "eigen_cam",
    "score_cam",
    "ablation_cam",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_models("vit_models.py", tmp_path_factory.mktemp("vit_models"))


@pytest.fixture(scope="module")
def files(built):
    return built[0]


@pytest.fixture(scope="module")
def ref(built):
    return built[1]


@pytest.fixture(scope="module")
def vits(files):
    models = {name: Model(files / f"{name}.keras") for name in PREFIX}
    yield models
    for model in models.values():
        model.close()


def _close(actual, expected):
    scale = max(float(np.abs(expected).max()), 1e-12)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("name", sorted(PREFIX))
def test_grad_cam_at_the_default_token_layer_equals_eager_reference(vits, ref, name):
    model = vits[name]
    assert model.default_layer == DEFAULTS[name]
    record = next(r for r in model.layer_records if r.default)
    count = PREFIX[name] + 36
    assert record.text == f"tokens {count} = " + (
        f"{PREFIX[name]} + 6x6, 32 channels" if PREFIX[name] else "6x6, 32 channels"
    )
    images = ref[f"{name}_images"]
    result = explain(model, images, TARGETS)
    _close(result.logits, ref[f"{name}_logits"])
    assert result.lowres.shape == (2, 6, 6)
    _close(result.lowres, ref[f"{name}_grad_cam"])
    assert result.map.shape == (2, 48, 48)


@pytest.mark.parametrize("name", sorted(PREFIX))
def test_last_block_output_gets_gradient_only_when_every_token_is_pooled(vits, ref, name):
    """Why the default differs: a head reading prefix tokens gives the patch tokens of the last
    block's output no gradient (the reference is zero too); a mean-pooling head does."""
    images = ref[f"{name}_images"]
    with pytest.warns(UserWarning) if PREFIX[name] else _no_warning():
        result = explain(vits[name], images, TARGETS, layer="block_2")
    _close(result.lowres, ref[f"{name}_grad_cam_block_2"])
    assert (np.abs(ref[f"{name}_grad_cam_block_2"]).max() == 0) == bool(PREFIX[name])


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _rollout(attention, fusion, k, residual=True):
    """Abnar & Zuidema's rollout, one image and block at a time."""
    maps = []
    for image in attention:
        count = image.shape[-1]
        rolled = np.eye(count)
        for block in image:
            fused = {"mean": block.mean(0), "max": block.max(0), "min": block.min(0)}[fusion]
            if residual:
                fused = 0.5 * fused + 0.5 * np.eye(count)
            fused = fused / fused.sum(axis=1, keepdims=True)
            rolled = fused @ rolled
        maps.append(rolled[0, k:] if k else rolled.mean(axis=0))
    return np.array(maps).reshape(len(attention), 6, 6)


def _generic(attention, gradients, k):
    """Chefer et al.'s relevance: R += mean_h (grad * A)^+ @ R, from the identity."""
    maps = []
    for image, grads in zip(attention, gradients):
        count = image.shape[-1]
        relevance = np.eye(count)
        for block, grad in zip(image, grads):
            relevance = relevance + np.clip(block * grad, 0, None).mean(0) @ relevance
        relevance = relevance - np.eye(count)
        maps.append(relevance[0, k:] if k else relevance.mean(axis=0))
    return np.array(maps).reshape(len(attention), 6, 6)


@pytest.mark.parametrize("name", sorted(PREFIX))
def test_attention_methods_equal_references_from_return_attention_scores(vits, ref, name):
    model, images, k = vits[name], ref[f"{name}_images"], PREFIX[name]
    out = model.fetch(images, TARGETS, ["attention", "attention_gradients"])
    _close(out["attention"], ref[f"{name}_attention"])
    _close(out["attention_gradients"], ref[f"{name}_attention_grads"])
    for fusion in ("mean", "max", "min"):
        result = explain(model, images, TARGETS, "attention_rollout", head_fusion=fusion)
        _close(result.lowres, _rollout(ref[f"{name}_attention"].astype(np.float64), fusion, k))
    plain = explain(model, images, TARGETS, "attention_rollout", residual=False)
    _close(plain.lowres, _rollout(ref[f"{name}_attention"], "mean", k, residual=False))
    result = explain(model, images, TARGETS, "generic_attention")
    expected = _generic(ref[f"{name}_attention"], ref[f"{name}_attention_grads"], k)
    _close(result.lowres, expected)
    assert result.map.shape == (2, 48, 48)


@pytest.mark.parametrize("method", CAM_FAMILY)
@pytest.mark.parametrize("name", sorted(PREFIX))
def test_every_cam_method_works_on_a_token_layer(vits, ref, name, method):
    model = vits[name]
    options = {"max_channels": 4} if method in ("ablation_cam", "score_cam") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Score-CAM of random weights may find no evidence
        result = explain(model, ref[f"{name}_images"][:1], 1, method, **options)
    assert result.lowres.shape == (1, 6, 6) and np.isfinite(result.lowres).all()
    if method != "score_cam":
        assert np.abs(result.lowres).max() > 0


@pytest.mark.parametrize("name", ["vit_cls", "vit_dist"])
def test_ablation_cam_with_prefix_tokens_equals_numpy_over_eager_runs(vits, ref, name):
    """Every channel of block_1 zeroed in the patch tokens only, the prefix tokens fed unchanged:
    the map equals numpy over eager runs of the second block and the head, and differs from
    zeroing the channel in the prefix tokens too."""
    model, images = vits[name], ref[f"{name}_images"]
    result = explain(model, images, TARGETS, "ablation_cam", layer="block_1")
    _close(result.logits, ref[f"{name}_logits"])
    _close(result.lowres, ref[f"{name}_ablation_cam"])
    every = ref[f"{name}_ablation_all"]
    assert np.abs(result.lowres - every).max() > 0.05 * np.abs(every).max()
    out = model.fetch(images, None, ["activations", "prefix_tokens", "logits"], "block_1")
    assert out["prefix_tokens"].shape == (2, PREFIX[name], 32)
    above = model.fetch_above(
        out["activations"], None, ["logits"], "block_1", prefix=out["prefix_tokens"]
    )
    _close(above["logits"], ref[f"{name}_logits"])
    with pytest.raises(UserError, match=f"has {PREFIX[name]} prefix tokens beside its map"):
        model.fetch_above(out["activations"], None, ["logits"], "block_1")
    with pytest.raises(UserError, match="prefix tokens of layer 'block_1' must be"):
        model.fetch_above(out["activations"], None, ["logits"], "block_1", prefix=np.zeros(3))


@pytest.mark.parametrize("name", ["vit_cls", "vit_dist"])
def test_ablation_cam_at_the_default_layer_the_residual_goes_around_equals_eager(vits, ref, name):
    """At the last block's first normalisation the copies replace its output while the pixels
    feed the residual: equal to eager runs of that block with the attention's input ablated."""
    model, images = vits[name], ref[f"{name}_images"]
    assert model.default_layer == "block_2_norm1"
    result = explain(model, images, TARGETS, "ablation_cam")
    _close(result.lowres, ref[f"{name}_ablation_cam_norm1"])
    out = model.fetch(images, None, ["activations", "prefix_tokens"])
    with pytest.raises(UserError, match="does not determine logits .* residual.*images="):
        model.fetch_above(out["activations"], None, ["logits"], prefix=out["prefix_tokens"])


def test_attention_methods_refuse_a_cnn(files):
    model = Model(files / "wide_cnn.keras")
    with pytest.raises(UserError, match="no attention blocks"):
        explain(model, np.zeros((1, 160, 256, 3), np.uint8), 0, "attention_rollout")
    model.close()


def test_token_overrides_and_impossible_shapes(files, vits, ref, capsys):
    same = Model.from_file(files / "vit_cls.keras", tokens=1, grid=(6, 6))
    images = ref["vit_cls_images"]
    _close(explain(same, images, TARGETS).lowres, ref["vit_cls_grad_cam"])
    same.close()
    with pytest.raises(UserError, match="has 2 prefix tokens and a 6x6 grid .*have 36/37 tokens"):
        Model.from_file(files / "vit_cls.keras", tokens=2, grid=(6, 6))
    assert (
        main(["list", "layers", "--model-file", str(files / "vit_cls.keras"), "--grid", "7x7"]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(--grid)" in err and "7x7 grid" in err, err
    assert (
        main(["list", "layers", "--model-file", str(files / "wide_cnn.keras"), "--tokens", "1"])
        == 2
    )
    assert "has no token layers: --tokens does not apply" in capsys.readouterr().err


def test_list_layers_shows_tokens_and_no_heads_axis(files, capsys):
    assert main(["list", "layers", "--model-file", str(files / "vit_cls.keras")]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: " ".join(line.split()[1:]) for line in out.splitlines()[1:]}
    assert rows["block_1"] == "tokens 37 = 1 + 6x6, 32 channels"
    assert rows["block_2_norm1"] == "tokens 37 = 1 + 6x6, 32 channels (default)"
    assert rows["patch_embed"] == "6x6x32"
    assert "default layer block_2_norm1: the head reads the class token" in out
    # attention projections (tokens x heads x dim) and weights (heads x tokens x tokens)
    assert not any(k.startswith("block_1_attention/") and "x4x" in v for k, v in rows.items())
    assert not any("x37" in v or "37x" in v for v in rows.values())


def test_keras_hub_vit_loads_without_trust(files, ref, capsys):
    if (files / "hub_vit.skipped").exists():
        pytest.skip((files / "hub_vit.skipped").read_text())
    model = Model(files / "hub_vit.keras")
    block = "vi_t_backbone/vit_encoder/transformer_block_2/ln_1"
    assert model.default_layer == block
    assert {r.name: r.text for r in model.layer_records}[block] == (
        "tokens 37 = 1 + 6x6, 64 channels"
    )
    assert not any(
        len(r.shape) == 3 and 37 in r.shape and r.tokens is None for r in model.layer_records
    ), "a tensor with a token axis is offered as a map"
    images = ref["hub_vit_images"]
    probabilities = model.fetch(images, keys=["probabilities"])["probabilities"]
    np.testing.assert_allclose(model.predict(images), ref["hub_vit_logits"], rtol=1e-4, atol=1e-4)
    assert probabilities.shape == (2, 5)
    result = explain(model, images, TARGETS)
    assert result.lowres.shape == (2, 6, 6) and np.abs(result.lowres).max() > 0
    rollout = explain(model, images, TARGETS, "attention_rollout")
    assert rollout.lowres.shape == (2, 6, 6) and (rollout.lowres > 0).all()
    model.close()
    png = files / "hub.png"
    from PIL import Image

    Image.fromarray(images[0].astype(np.uint8)).save(png)
    assert (
        main(
            [
                "explain",
                str(png),
                "--model-file",
                str(files / "hub_vit.keras"),
                "--output",
                str(files / "hub_cam.png"),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert f"layer {block}: tokens 37 = 1 + 6x6, 64 channels; default: the head reads" in err
    assert (files / "hub_cam.png").exists()


def test_refusals_are_unchanged():
    lam = {"class_name": "Lambda", "config": {"name": "touch", "function": "..."}}
    hub = {
        "module": "keras_hub.src.models.vit.vit_backbone",
        "class_name": "ViTBackbone",
        "registered_name": "keras_hub>ViTBackbone",
        "config": {"name": "backbone", "layers": [lam]},
    }
    assert code_objects(hub) == ["layer 'touch' is a Lambda layer (stored Python bytecode)"]
    hub["config"]["layers"] = []
    assert code_objects(hub) == []
    unknown = {"module": "mine.layers", "class_name": "Twice", "config": {"name": "t"}}
    assert code_objects(unknown) == ["custom object 'Twice' (module mine.layers) in layer 't'"]
    unregistered = {
        "module": "keras_hub.src.utils",
        "class_name": "function",
        "config": "system",
        "registered_name": None,
    }
    assert code_objects(unregistered) == ["custom function 'system'"]
    missing = {"module": "keras_cv_nowhere.layers", "class_name": "A", "config": {"name": "a"}}
    assert code_objects(missing)[0].startswith("custom object 'A'")


def test_convnext_default_is_its_last_stage_by_layer_name(files, capsys):
    assert main(["list", "layers", "--model-file", str(files / "convnext.keras")]) == 0
    layers = capsys.readouterr().out.splitlines()[1:]  # the first line names the logits tensor
    assert [line.split() for line in layers if "(default)" in line] == [
        ["add_17", "2x2x768", "(default)"]
    ]
    assert not any("convnext_tiny_1/" in line or "Add_17" in line for line in layers)


def test_live_keras_model_is_traced_like_its_file(files, vits, ref):
    import keras
    from tensorflow.python.eager import context

    with context.eager_mode():
        live = keras.models.load_model(files / "vit_mean.keras", compile=False)
        before = ["call" in vars(layer) for layer in live.layers]
    model = Model(live)
    images = ref["vit_mean_images"]
    assert model.default_layer == "norm"
    _close(explain(model, images, TARGETS).lowres, ref["vit_mean_grad_cam"])
    model.close()
    with context.eager_mode():
        after = ["call" in vars(layer) for layer in live.layers]
        _close(
            live(images).numpy(),
            vits["vit_mean"].fetch(images, keys=["probabilities"])["probabilities"],
        )
    assert before == after and not any(after), "the live model's layers were left wrapped"


def test_a_160_by_256_cnn_gives_160_by_256_maps_equal_to_eager_reference(files, ref, tmp_path):
    model = Model(files / "wide_cnn.keras")
    assert model.input_size == (160, 256) and model.default_layer == "c3"
    images = ref["wide_images"]
    result = explain(model, images, TARGETS)
    _close(result.logits, ref["wide_logits"])
    _close(result.lowres, ref["wide_grad_cam"])
    assert result.map.shape == (2, 160, 256)
    photo = np.random.default_rng(0).integers(0, 256, (300, 400, 3), np.uint8)
    assert model.prepare(photo).shape == (160, 256, 3)
    with pytest.raises(UserError, match=r"images must be N x 160 x 256 x 3"):
        model.predict(np.zeros((1, 256, 160, 3), np.uint8))
    occluded = explain(model, images[:1], 0, "occlusion", patch=64, stride=64)
    assert occluded.raw.shape == (1, 160, 256)  # 3 x 4 patches, the last row flush
    model.close()


def test_batch_and_the_app_take_a_non_square_model(files, ref, tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, image in enumerate(ref["wide_images"]):
        Image.fromarray(image.astype(np.uint8)).save(folder / f"photo{i}.png")
    model = ["--model-file", str(files / "wide_cnn.keras")]
    assert (
        main(["batch", str(folder), "--out", str(tmp_path / "out"), "--no-progress", *model]) == 0
    )
    assert len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == 2
    pytest.importorskip("gradio")
    from gradcam.app import GradcamApp
    from gradcam.model_cache import ModelCache

    cache = ModelCache()
    wide = cache.put(Model(files / "wide_cnn.keras"))
    app = GradcamApp(cache, default_network=wide.name)
    try:
        picture, _, downloads = app.explain(
            str(folder / "photo0.png"), wide.name, "grad_cam", "", "heatmap", 0.5
        )
        assert picture.shape == (160, 256, 3) and len(downloads) == 2
    finally:
        app.close()
        wide.close()


def test_a_slim_network_runs_at_a_non_square_size(lite0):
    """EfficientNet-Lite0's global-pooling head takes any size: at 160 x 256 its last map is
    5 x 8, Grad-CAM there is the numpy of its own activations and gradients, and the cat photo
    is still classified as the square network classifies it."""
    from gradcam.methods.cam_math import gradcam_weights, weighted_sum

    from conftest import photo

    wide = Model("efficientnet_lite0", input_size=(160, 256))
    image = wide.prepare(photo("chelsea"))[None]
    assert image.shape == (1, 160, 256, 3)
    out = wide.fetch(image, keys=["activations", "layer_gradients", "logits"])
    assert out["activations"].shape[1:3] == (5, 8)
    result = explain(wide, image)
    _close(result.lowres, weighted_sum(out["activations"], gradcam_weights(out["layer_gradients"])))
    assert result.map.shape == (1, 160, 256)
    # real ImageNet weights: the cat at 160 x 256 is one of the classes the 224 x 224 net ranks top
    square = lite0.prepare(photo("chelsea"))[None]
    assert int(result.target[0]) in np.argsort(-lite0.predict(square)[0])[:5]
    wide.close()
