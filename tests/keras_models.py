"""Build the small Keras classifiers of tests/test_model_files.py, and their eager references.

Run as a script in its own process (``python tests/keras_models.py OUT_DIR``): it imports
TensorFlow in its default eager mode, so the test process's graph mode is untouched. It writes
into OUT_DIR:

- ``k3_nested.keras`` (Keras 3), ``k2_nested.h5`` (tf-keras) and ``k3_saved_model/`` (Keras 3
  ``model.export``): a classifier with a nested backbone model (Rescaling, three ReLU convs c1, c2,
  c3), global average pooling and a Dense head with the softmax fused in; random weights;
- ``k3_multilabel.keras``: a flat model with swish convs and a separate sigmoid Activation layer;
- ``lambda_k2.h5``, ``lambda_k3.keras``, ``lambda_saved_model/``: a Lambda layer whose function
  creates the file ``marker_<name>`` when it runs (the markers the build wrote are removed);
- ``free_size.keras``: a classifier whose input has no fixed size (N x ? x ? x 3);
- files the loader must refuse: two inputs, two outputs, a vector input, a weights-only .h5, a
  SavedModel without a signature;
- ``references.npz``: 32 x 32 test images (whole pixel values, so a PNG holds them exactly) and,
  for each model, eager references computed layer by layer under a ``tf.GradientTape``: logits
  (the head's pre-activation, from its kernel and bias), probabilities (the model's own output),
  Grad-CAM's weighted sums at c3 and c2, the head's kernel, and guided-backprop input gradients
  from a forward pass written with ``tf.nn`` ops and a guided ReLU (``tf.custom_gradient``).
"""

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

SIZE = 32
CLASSES = 5
TARGETS = np.array([1, 3, 0, 4], np.int32)


def nested_classifier(k, seed):
    """Input -> backbone (nested model: rescaling, c1, c2, c3) -> GAP -> Dense(softmax)."""
    k.utils.set_random_seed(seed)
    bias = k.initializers.RandomNormal(0.0, 0.1, seed=seed)
    inner = k.Input((SIZE, SIZE, 3))
    x = k.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescaling")(inner)
    x = k.layers.Conv2D(8, 3, activation="relu", bias_initializer=bias, name="c1")(x)
    x = k.layers.Conv2D(8, 3, strides=2, activation="relu", bias_initializer=bias, name="c2")(x)
    x = k.layers.Conv2D(16, 3, activation="relu", bias_initializer=bias, name="c3")(x)
    backbone = k.Model(inner, x, name="backbone")
    pixels = k.Input((SIZE, SIZE, 3), name="pixels")
    pooled = k.layers.GlobalAveragePooling2D(name="gap")(backbone(pixels))
    head = k.layers.Dense(CLASSES, activation="softmax", bias_initializer=bias, name="head")
    return k.Model(pixels, head(pooled), name="classifier")


def multilabel(seed):
    """Flat Keras 3 model: swish convs, Dense(3) then a separate sigmoid Activation layer."""
    keras.utils.set_random_seed(seed)
    pixels = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255.0)(pixels)
    x = keras.layers.Conv2D(6, 3, activation="swish", name="s1")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="swish", name="s2")(x)
    x = keras.layers.Dense(3, name="scores")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(pixels, keras.layers.Activation("sigmoid", name="sigmoid")(x))


def nested_reference(model, images):
    """Layer-by-layer eager pass: logits from the head's kernel and bias, Grad-CAM sums at c3
    and c2 for TARGETS, and the model's own output (probabilities)."""
    backbone, head = model.get_layer("backbone"), model.get_layer("head")
    x = tf.constant(images)
    with tf.GradientTape(persistent=True) as tape:
        maps, h = {}, x
        for name in ("rescaling", "c1", "c2", "c3"):
            h = backbone.get_layer(name)(h)
            maps[name] = h
        logits = tf.matmul(tf.reduce_mean(h, [1, 2]), head.kernel) + head.bias
        score = tf.reduce_sum(logits * tf.one_hot(TARGETS, CLASSES), 1)
    out = {
        "logits": logits.numpy(),
        "probabilities": model(x).numpy(),
        "head_kernel": head.kernel.numpy(),
        "guided": guided_reference(model, x),
    }
    for name in ("c3", "c2"):
        gradients = tape.gradient(score, maps[name]).numpy()
        out[f"grad_cam_{name}"] = np.einsum(
            "nhwc,nc->nhw", maps[name].numpy(), gradients.mean(axis=(1, 2))
        )
    return out


@tf.custom_gradient
def guided_relu(x):
    """ReLU whose gradient also zeroes negative incoming gradients (Springenberg et al. 2014)."""
    y = tf.nn.relu(x)
    return y, lambda dy: dy * tf.cast(y > 0, dy.dtype) * tf.cast(dy > 0, dy.dtype)


def guided_reference(model, x):
    """d logit[target] / d pixels with guided ReLUs, the forward pass written with tf.nn ops
    from the layers' weights."""
    backbone, head = model.get_layer("backbone"), model.get_layer("head")
    with tf.GradientTape() as tape:
        tape.watch(x)
        h = x / 127.5 - 1.0
        for name, stride in (("c1", 1), ("c2", 2), ("c3", 1)):
            conv = backbone.get_layer(name)
            h = guided_relu(tf.nn.conv2d(h, conv.kernel, stride, "VALID") + conv.bias)
        logits = tf.matmul(tf.reduce_mean(h, [1, 2]), head.kernel) + head.bias
        score = tf.reduce_sum(logits * tf.one_hot(TARGETS, CLASSES), 1)
    return tape.gradient(score, x).numpy()


def multilabel_reference(model, images):
    scores = model.get_layer("scores")
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        h = x
        for layer in model.layers[1:]:
            h = layer(h)
            if layer is scores:
                break
            if layer.name == "s2":
                s2 = h
        score = tf.reduce_sum(h * tf.one_hot(TARGETS % 3, 3), 1)
    gradients = tape.gradient(score, s2).numpy()
    return {
        "logits": h.numpy(),
        "probabilities": model(x).numpy(),
        "grad_cam_s2": np.einsum("nhwc,nc->nhw", s2.numpy(), gradients.mean(axis=(1, 2))),
    }


def lambda_model(k, marker):
    """A Lambda layer that creates ``marker`` whenever its (stored) function runs."""
    pixels = k.Input((SIZE, SIZE, 3))
    # The path as a constant of the lambda's own bytecode (Keras 3 cannot reload default values).
    touch = eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]")  # noqa: S307
    x = k.layers.Lambda(touch, name="touch")(pixels)
    x = k.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = k.layers.Dense(2, activation="softmax")(k.layers.GlobalAveragePooling2D()(x))
    return k.Model(pixels, x)


def refused_models(out):
    a, b = keras.Input((SIZE, SIZE, 3)), keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3)(keras.layers.Add()([a, b]))
    keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Flatten()(x))).save(
        out / "two_inputs.keras"
    )
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(a))
    keras.Model(a, [keras.layers.Dense(2)(x), keras.layers.Dense(3)(x)]).save(
        out / "two_outputs.keras"
    )
    v = keras.Input((10,))
    keras.Model(v, keras.layers.Dense(2, activation="softmax")(v)).save(out / "vector_input.keras")
    nested_classifier(keras, 3).save_weights(out / "weights_only.weights.h5")
    module = tf.Module()
    module.weights_ = tf.Variable(tf.ones([3]))
    tf.saved_model.save(module, str(out / "no_signature"))


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = (
        np.random.default_rng(0).integers(0, 256, (len(TARGETS), SIZE, SIZE, 3)).astype(np.float32)
    )
    references = {"images": images, "targets": TARGETS}
    k3 = nested_classifier(keras, 1)
    k3.save(out / "k3_nested.keras")
    k3.export(str(out / "k3_saved_model"), verbose=False)
    k2 = nested_classifier(tf_keras, 2)
    k2.save(out / "k2_nested.h5")
    labels = multilabel(4)
    labels.save(out / "k3_multilabel.keras")
    for name, model in (("k3", k3), ("k2", k2)):
        references.update({f"{name}_{k}": v for k, v in nested_reference(model, images).items()})
    references.update(
        {f"multilabel_{k}": v for k, v in multilabel_reference(labels, images).items()}
    )
    lambda_model(tf_keras, out / "marker_k2").save(out / "lambda_k2.h5")
    lambda_k3 = lambda_model(keras, out / "marker_k3")
    lambda_k3.save(out / "lambda_k3.keras")
    lambda_k3.export(str(out / "lambda_saved_model"), verbose=False)
    refused_models(out)
    free = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="conv")(free)
    x = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(free, x).save(out / "free_size.keras")
    np.savez(out / "references.npz", **references)
    for marker in out.glob("marker_*"):  # written while the models were built
        marker.unlink()


if __name__ == "__main__":
    main(sys.argv[1])
