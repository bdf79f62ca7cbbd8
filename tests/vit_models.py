"""Build the small vision transformers and the non-square CNN of tests/test_transformers.py, and
their eager references.

Run as a script in its own process (``python tests/vit_models.py OUT_DIR [NAME ...]``: NAMEs
build only those plain ViTs), so TensorFlow runs
eagerly here and the test process's graph mode is untouched. It writes into OUT_DIR:

- ``vit_cls.keras``, ``vit_dist.keras``, ``vit_mean.keras``: ViTs of plain Keras layers (48 x 48
  input, an 8 x 8 stride-8 Conv2D patch embedding: 6 x 6 patches of 32 channels; a class token,
  a class and a distillation token, or none; a learned position embedding; two blocks of
  LayerNormalization + MultiHeadAttention (4 heads) + a GELU MLP with residuals; a final
  LayerNormalization; a head on the class token, on the mean of the two prefix tokens (DeiT), or
  on the mean of all tokens), random weights. A learned token is a Dense layer's bias applied to
  zeros (``Rescaling(0)``), so no custom layer and no code is in the file;
- ``hub_vit.keras``: a keras-hub ``ViTImageClassifier`` (96 px, patch 16, 2 blocks, random
  weights), when keras-hub imports (else ``hub_vit.skipped`` holds the reason);
- ``convnext.keras``: keras.applications ``ConvNeXtTiny`` at 64 x 64, random weights, 5 classes;
- ``wide_cnn.keras``: a CNN on 160 x 256 inputs (three ReLU convs, GAP, Dense);
- ``references.npz``: for each model key ``<name>_...``: ``images`` (whole pixel values), the
  eager ``logits`` (pre-softmax), and Grad-CAM's weighted sum at the layer the test explains,
  computed under a ``tf.GradientTape`` on that layer's output with the prefix tokens dropped and
  the rest reshaped to the grid; for the plain ViTs also each block's attention probabilities
  from ``MultiHeadAttention(..., return_attention_scores=True)`` (``<name>_attention``
  [N, blocks, heads, T, T]) and their gradients of the target logit (``<name>_attention_grads``);
  for the plain ViTs with prefix tokens Ablation-CAM at ``block_1`` (the first block's output:
  the second block and the head run eagerly from it with channel c of the patch tokens zeroed,
  ``<name>_ablation_cam``; the same with c zeroed in every token, ``<name>_ablation_all``),
  and at ``block_2_norm1``, the default, which the block's residual goes around (the attention
  fed the ablated copy, the residual block 1's output: ``<name>_ablation_cam_norm1``).
"""

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

SIZE, PATCH, DIM, HEADS, CLASSES = 48, 8, 32, 4, 5
GRID = SIZE // PATCH
TARGETS = np.array([1, 3], np.int32)
PREFIX = {"vit_cls": 1, "vit_dist": 2, "vit_mean": 0}
# The layer each test explains: the default the loader should find (see tests/test_transformers.py).
EXPLAINED = {"vit_cls": "block_2_norm1", "vit_dist": "block_2_norm1", "vit_mean": "norm"}


def learned(zeros, units, name):
    """A learned vector: the bias of a Dense layer applied to zeros."""
    bias = keras.initializers.RandomNormal(0.0, 0.5, seed=len(name))
    return keras.layers.Dense(units, bias_initializer=bias, name=name)(zeros)


def plain_vit(prefix, seed, blocks=2):
    keras.utils.set_random_seed(seed)
    pixels = keras.Input((SIZE, SIZE, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescaling")(pixels)
    x = keras.layers.Conv2D(DIM, PATCH, strides=PATCH, name="patch_embed")(x)
    patches = keras.layers.Reshape((GRID * GRID, DIM), name="patches")(x)
    zeros = keras.layers.Rescaling(0.0, name="zeros")(
        keras.layers.GlobalAveragePooling1D(name="pool_zeros")(patches)
    )
    tokens = [
        keras.layers.Reshape((1, DIM), name=f"token_{i}")(learned(zeros, DIM, f"prefix_{i}"))
        for i in range(prefix)
    ]
    x = keras.layers.Concatenate(axis=1, name="tokens")(tokens + [patches]) if prefix else patches
    count = prefix + GRID * GRID
    position = keras.layers.Reshape((count, DIM), name="position")(
        learned(zeros, count * DIM, "position_embed")
    )
    x = keras.layers.Add(name="embed")([x, position])
    for i in range(1, blocks + 1):
        h = keras.layers.LayerNormalization(name=f"block_{i}_norm1")(x)
        h = keras.layers.MultiHeadAttention(HEADS, DIM // HEADS, name=f"block_{i}_attention")(h, h)
        x = keras.layers.Add(name=f"block_{i}_residual")([x, h])
        h = keras.layers.LayerNormalization(name=f"block_{i}_norm2")(x)
        h = keras.layers.Dense(2 * DIM, activation="gelu", name=f"block_{i}_mlp1")(h)
        h = keras.layers.Dense(DIM, name=f"block_{i}_mlp2")(h)
        x = keras.layers.Add(name=f"block_{i}")([x, h])
    x = keras.layers.LayerNormalization(name="norm")(x)
    if prefix:
        x = keras.layers.Cropping1D((0, count - prefix), name="prefix_tokens")(x)
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    logits = keras.layers.Dense(CLASSES, name="head")(pooled)
    probabilities = keras.layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(pixels, probabilities, name=f"vit_{prefix}")


def images_for(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, (2, *shape, 3)).astype(np.float32)


def grad_cam_reference(model, layer, prefix, images, targets, grid):
    """Grad-CAM's weighted sum at ``layer``'s output: prefix tokens dropped, the rest reshaped."""
    probe = keras.Model(
        model.inputs, [model.get_layer(layer).output, model.get_layer("head").output]
    )
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        features, logits = probe(x, training=False)
        score = tf.reduce_sum(tf.gather(logits, targets, axis=1, batch_dims=1))
    gradients = tape.gradient(score, features).numpy()
    features = features.numpy()
    if features.ndim == 3:
        h, w = grid
        features = features[:, prefix:].reshape(len(images), h, w, -1)
        gradients = gradients[:, prefix:].reshape(len(images), h, w, -1)
    weights = gradients.mean(axis=(1, 2))
    return logits.numpy(), np.einsum("nhwc,nc->nhw", features, weights)


def attention_reference(model, images, targets):
    """Each block's attention probabilities, from its MultiHeadAttention layer called with
    ``return_attention_scores=True`` on the block's first normalisation, and the gradients of the
    target logit with respect to them (the same layers, re-run block by block)."""
    x = tf.constant(images)
    embed = keras.Model(model.inputs, model.get_layer("embed").output)
    with tf.GradientTape(persistent=True) as tape:
        tokens = embed(x, training=False)
        scores = []
        for i in (1, 2):
            h = model.get_layer(f"block_{i}_norm1")(tokens)
            out, probabilities = model.get_layer(f"block_{i}_attention")(
                h, h, return_attention_scores=True, training=False
            )
            tape.watch(probabilities)
            scores.append(probabilities)
            tokens = model.get_layer(f"block_{i}_residual")([tokens, out])
            h = model.get_layer(f"block_{i}_norm2")(tokens)
            h = model.get_layer(f"block_{i}_mlp2")(model.get_layer(f"block_{i}_mlp1")(h))
            tokens = model.get_layer(f"block_{i}")([tokens, h])
        h = model.get_layer("norm")(tokens)
        if "prefix_tokens" in [layer.name for layer in model.layers]:
            h = model.get_layer("prefix_tokens")(h)
        logits = model.get_layer("head")(model.get_layer("pool")(h))
        score = tf.reduce_sum(tf.gather(logits, targets, axis=1, batch_dims=1))
    gradients = tape.gradient(score, scores)
    check = model(x, training=False).numpy()
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), check, rtol=1e-4, atol=1e-6)
    return np.stack([s.numpy() for s in scores], 1), np.stack([g.numpy() for g in gradients], 1)


def from_block(model, tokens, first, blocks=2, norm1=None):
    """Logits of the blocks ``first``..``blocks`` and the head run on ``tokens`` (the output of
    block ``first - 1``), layer by layer; ``norm1``: an output of block ``first``'s first
    normalisation used in place of its own (the attention's input), the residual still taking
    ``tokens``."""
    for i in range(first, blocks + 1):
        if i == first and norm1 is not None:
            h = norm1
        else:
            h = model.get_layer(f"block_{i}_norm1")(tokens)
        h = model.get_layer(f"block_{i}_attention")(h, h, training=False)
        tokens = model.get_layer(f"block_{i}_residual")([tokens, h])
        h = model.get_layer(f"block_{i}_norm2")(tokens)
        h = model.get_layer(f"block_{i}_mlp2")(model.get_layer(f"block_{i}_mlp1")(h))
        tokens = model.get_layer(f"block_{i}")([tokens, h])
    h = model.get_layer("norm")(tokens)
    if "prefix_tokens" in [layer.name for layer in model.layers]:
        h = model.get_layer("prefix_tokens")(h)
    return model.get_layer("head")(model.get_layer("pool")(h)).numpy()


def ablation_map(features, prefix, logits_of, targets, every=False):
    """Ablation-CAM in numpy over a layer's token output ``features`` [N, T, C]: w_c =
    (y - y_c) / |y|, y the target logit ``logits_of(features)`` gives and y_c the same with
    channel c of the patch tokens zeroed (``every``: of every token); the map sum_c w_c A_c of
    the patch tokens on the grid."""
    rows = np.arange(len(features))
    y = logits_of(features)[rows, targets].astype(np.float64)
    ablated = np.empty((len(features), DIM))
    for c in range(DIM):
        copy = features.copy()
        copy[:, 0 if every else prefix :, c] = 0
        ablated[:, c] = logits_of(copy)[rows, targets]
    weights = (y[:, None] - ablated) / np.abs(y)[:, None]
    patches = features[:, prefix:].reshape(len(features), GRID, GRID, DIM).astype(np.float64)
    return np.einsum("nhwc,nc->nhw", patches, weights)


def ablation_reference(model, prefix, images, targets):
    """Ablation-CAM at ``block_1``, the second block and the head run eagerly from its ablated
    copies; (patch-token map, every-token map)."""
    tokens = keras.Model(model.input, model.get_layer("block_1").output)(images).numpy()
    return [
        ablation_map(tokens, prefix, lambda t: from_block(model, t, 2), targets, every)
        for every in (False, True)
    ]


def norm1_ablation_reference(model, prefix, images, targets):
    """Ablation-CAM at ``block_2_norm1`` (the default of a class-token ViT: the block's residual
    goes around it): block 2 run eagerly from block 1's output with the ablated copy as its
    attention's input while the residual keeps block 1's output."""
    tokens = keras.Model(model.input, model.get_layer("block_1").output)(images)
    norm1 = model.get_layer("block_2_norm1")(tokens).numpy()
    return ablation_map(norm1, prefix, lambda h: from_block(model, tokens, 2, norm1=h), targets)


def hub_vit(out):
    try:
        import keras_hub
    except ImportError as exc:
        (out / "hub_vit.skipped").write_text(f"keras-hub cannot be imported: {exc}")
        return None
    keras.utils.set_random_seed(3)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(96, 96, 3),
        patch_size=16,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        mlp_dim=128,
    )
    model = keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=CLASSES)
    model.save(out / "hub_vit.keras")
    return model


def wide_cnn():
    keras.utils.set_random_seed(4)
    pixels = keras.Input((160, 256, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(pixels)
    bias = keras.initializers.RandomNormal(0.0, 0.1, seed=4)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", bias_initializer=bias, name="c1")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", bias_initializer=bias, name="c2")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", bias_initializer=bias, name="c3")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(CLASSES, name="head")(x)
    return keras.Model(pixels, keras.layers.Activation("softmax")(logits), name="wide")


def main(out, only=()):
    """Build everything (or only the plain ViTs named in ``only``) into ``out``."""
    out = Path(out)
    refs = {}
    for seed, (name, prefix) in enumerate(PREFIX.items()):
        if only and name not in only:
            continue
        model = plain_vit(prefix, seed)
        model.save(out / f"{name}.keras")
        images = images_for((SIZE, SIZE), seed)
        logits, cam = grad_cam_reference(
            model, EXPLAINED[name], prefix, images, TARGETS, (GRID, GRID)
        )
        attention, gradients = attention_reference(model, images, TARGETS)
        refs.update(
            {
                f"{name}_images": images,
                f"{name}_logits": logits,
                f"{name}_grad_cam": cam,
                f"{name}_attention": attention,
                f"{name}_attention_grads": gradients,
            }
        )
        if prefix:
            patch, every = ablation_reference(model, prefix, images, TARGETS)
            refs[f"{name}_ablation_cam"], refs[f"{name}_ablation_all"] = patch, every
            refs[f"{name}_ablation_cam_norm1"] = norm1_ablation_reference(
                model, prefix, images, TARGETS
            )
        # Grad-CAM at the last block's output: what a class-token head gives no gradient to
        refs[f"{name}_grad_cam_block_2"] = grad_cam_reference(
            model, "block_2", prefix, images, TARGETS, (GRID, GRID)
        )[1]
    if only:
        np.savez(out / "references.npz", **refs)
        return
    hub = hub_vit(out)
    if hub is not None:
        refs["hub_vit_images"] = images_for((96, 96), 7)
        refs["hub_vit_logits"] = hub(refs["hub_vit_images"], training=False).numpy()
    wide = wide_cnn()
    wide.save(out / "wide_cnn.keras")
    refs["wide_images"] = images_for((160, 256), 5)
    refs["wide_logits"], refs["wide_grad_cam"] = grad_cam_reference(
        wide, "c3", 0, refs["wide_images"], TARGETS, None
    )
    keras.utils.set_random_seed(6)
    keras.applications.ConvNeXtTiny(weights=None, input_shape=(64, 64, 3), classes=CLASSES).save(
        out / "convnext.keras"
    )
    np.savez(out / "references.npz", **refs)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
