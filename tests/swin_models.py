"""Build the tiny Swin-like transformer of tests/test_transformers_swin.py and its eager references.

Run as a script in its own process (``python tests/swin_models.py OUT_DIR``), so TensorFlow runs
eagerly here and the test process's graph mode is untouched. It writes into OUT_DIR:

- ``swin.keras``: a windowed transformer of Keras layers and ``keras.ops`` (Liu et al. 2021,
  "Swin Transformer", without the shifted windows and relative position bias): 32 x 32 input; a
  4 x 4 stride-4 Conv2D patch embedding (8 x 8 patches of 16 channels) made tokens; stage 1, one
  block of window attention over 4 x 4 windows (the window partition folds the 4 windows into
  the batch, B*4 x 16 x 16, as Swin does; ``keras.ops`` reshape/transpose because a Reshape layer
  keeps the batch axis), MultiHeadAttention within each window, the windows reversed to
  B x 64 x 16, a residual MLP; a patch merging (each 2 x 2 neighbourhood concatenated, by
  Reshape/Permute, then LayerNormalization and Dense to 32 channels) halving the grid to 4 x 4;
  stage 2 the same over 2 x 2 windows (B*4 x 4 x 32); LayerNormalization, GlobalAveragePooling1D
  and a Dense head (5 classes, softmax); random weights. Stage 1's windows hold 16 tokens, as
  many as stage 2's whole grid: a loader that took window tokens for image tokens would offer them;
- ``references.npz``: ``swin_images`` (pixel values), the eager ``swin_logits`` (pre-softmax) and
  ``swin_grad_cam``: Grad-CAM's weighted sum at the final normalisation (``norm``), under a
  ``tf.GradientTape`` on its output, no prefix dropped, reshaped to the 4 x 4 grid; the same at
  stage 1's output (``stage_1``, 8 x 8), ``swin_grad_cam_stage_1``.
"""

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

SIZE, PATCH, DIM, HEADS, CLASSES = 32, 4, 16, 2, 5
GRID = SIZE // PATCH
TARGETS = np.array([1, 3], np.int32)
EXPLAINED = {"norm": GRID // 2, "stage_1": GRID}  # layer: side of its grid


def window_partition(x, side, window, channels):
    """B x side*side x C tokens -> B*nW x window*window x C (nW = (side / window)^2)."""
    n = side // window
    x = ops.reshape(x, (-1, n, window, n, window, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, window * window, channels))


def window_reverse(x, side, window, channels):
    """B*nW x window*window x C -> B x side*side x C."""
    n = side // window
    x = ops.reshape(x, (-1, n, n, window, window, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, side * side, channels))


def stage(x, side, window, channels, name):
    """One Swin block: window attention and an MLP, each with a residual."""
    h = keras.layers.LayerNormalization(name=f"{name}_norm1")(x)
    h = window_partition(h, side, window, channels)
    h = keras.layers.MultiHeadAttention(HEADS, channels // HEADS, name=f"{name}_attention")(h, h)
    h = window_reverse(h, side, window, channels)
    x = keras.layers.Add(name=f"{name}_residual")([x, h])
    h = keras.layers.LayerNormalization(name=f"{name}_norm2")(x)
    h = keras.layers.Dense(2 * channels, activation="gelu", name=f"{name}_mlp1")(h)
    h = keras.layers.Dense(channels, name=f"{name}_mlp2")(h)
    return keras.layers.Add(name=name)([x, h])


def patch_merging(x, side, channels, name):
    """B x side*side x C -> B x (side/2)^2 x 2C: each 2 x 2 neighbourhood's tokens concatenated
    (4C), normalised, then a linear map to 2C."""
    half = side // 2
    x = keras.layers.Reshape((half, 2, half, 2, channels), name=f"{name}_split")(x)
    x = keras.layers.Permute((1, 3, 2, 4, 5), name=f"{name}_neighbours")(x)
    x = keras.layers.Reshape((half * half, 4 * channels), name=f"{name}_concat")(x)
    x = keras.layers.LayerNormalization(name=f"{name}_norm")(x)
    return keras.layers.Dense(2 * channels, use_bias=False, name=name)(x)


def swin(seed=0):
    keras.utils.set_random_seed(seed)
    pixels = keras.Input((SIZE, SIZE, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescaling")(pixels)
    x = keras.layers.Conv2D(DIM, PATCH, strides=PATCH, name="patch_embed")(x)
    x = keras.layers.Reshape((GRID * GRID, DIM), name="patches")(x)
    x = keras.layers.LayerNormalization(name="embed_norm")(x)
    x = stage(x, GRID, 4, DIM, "stage_1")
    x = patch_merging(x, GRID, DIM, "merge_1")
    x = stage(x, GRID // 2, 2, 2 * DIM, "stage_2")
    x = keras.layers.LayerNormalization(name="norm")(x)
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    logits = keras.layers.Dense(CLASSES, name="head")(pooled)
    probabilities = keras.layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(pixels, probabilities, name="swin")


def grad_cam_reference(model, layer, side, images, targets):
    """Grad-CAM's weighted sum at ``layer``'s output tokens, reshaped to side x side."""
    probe = keras.Model(
        model.input, [model.get_layer(layer).output, model.get_layer("head").output]
    )
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        features, logits = probe(x, training=False)
        score = tf.reduce_sum(tf.gather(logits, targets, axis=1, batch_dims=1))
    gradients = tape.gradient(score, features).numpy()
    features = features.numpy().reshape(len(images), side, side, -1)
    weights = gradients.reshape(len(images), side, side, -1).mean(axis=(1, 2))
    return logits.numpy(), np.einsum("nhwc,nc->nhw", features, weights)


def main(out):
    out = Path(out)
    model = swin()
    model.save(out / "swin.keras")
    images = np.random.default_rng(0).integers(0, 256, (2, SIZE, SIZE, 3)).astype(np.float32)
    refs = {"swin_images": images}
    refs["swin_logits"], refs["swin_grad_cam"] = grad_cam_reference(
        model, "norm", EXPLAINED["norm"], images, TARGETS
    )
    refs["swin_grad_cam_stage_1"] = grad_cam_reference(
        model, "stage_1", EXPLAINED["stage_1"], images, TARGETS
    )[1]
    check = model(images, training=False).numpy()
    np.testing.assert_allclose(tf.nn.softmax(refs["swin_logits"]).numpy(), check, rtol=1e-4)
    np.savez(out / "references.npz", **refs)


if __name__ == "__main__":
    main(sys.argv[1])
