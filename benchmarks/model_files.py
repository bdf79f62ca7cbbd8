"""Grad-CAM on Keras model files: the imported graph against its own forward + backward to the
layer, and side by side with tf-keras-vis (``pip install tf-keras-vis``) ``Gradcam`` on the same
flat Keras 3 model and images; then the nested case (a backbone model inside the classifier).

    python benchmarks/model_files.py            # MobileNetV2 (random weights), 224 px, 8 images
    python benchmarks/model_files.py --quick    # 96 px, fewer repeats (seconds)

The models are Keras 3 ``keras.applications.MobileNetV2(weights=None)`` (no download): flat as
Keras builds it, and nested as a transfer-learning classifier (Rescaling, the MobileNetV2 backbone
without top as one layer, pooling, Dense with the softmax fused in). Their random weights get
batch-norm statistics from the test images (one training-mode pass with momentum 0), so the
ReLU6 maps are not saturated and the Grad-CAM maps are not flat. Both sides explain the same
images for the same classes at the same layer (``out_relu``); tf-keras-vis runs eagerly as its
users run it (``ReplaceToLinear``, a ``GradientTape`` per call; ``seek_penultimate_conv_layer=False``
so it explains ``out_relu`` itself, not the convolution before its batch norm), ours is one
session run per batch.
Timings alternate the two sides repeat by repeat, so load swings on a shared machine hit both.

``run(quick)`` returns the numbers as a dict for benchmarks/run.py, ``summary_lines(result)``
the printed lines.

tf-keras-vis (requirements.txt, bench only) also installs a stray top-level ``tests`` package.
To keep that out of an environment, install it aside and put it on the path for this run only::

    pip install --no-deps --target .bench-deps tf-keras-vis==0.8.7 deprecated==1.3.1
    rm -rf .bench-deps/tests
    PYTHONPATH=.bench-deps python benchmarks/model_files.py

Without it, the comparison is skipped with that message.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.limits import pass_fetches  # noqa: E402
from benchmarks.timing import interleaved, summarise  # noqa: E402
from gradcam.explanation import explain  # noqa: E402
from gradcam.loaders.keras_config import check_trusted, read_keras_file  # noqa: E402
from gradcam.loaders.keras_trace import freeze_keras  # noqa: E402
from gradcam.model import Model  # noqa: E402

LAYER = "out_relu"
PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")


def _eager():
    from tensorflow.python.eager import context

    return context.eager_mode()


def _calibrate(model, images):
    """Batch-norm moving statistics set to those of ``images`` (momentum 0, one training pass)."""

    def layers(layer):
        for inner in getattr(layer, "layers", ()):
            yield inner
            yield from layers(inner)

    for layer in layers(model):
        if hasattr(layer, "moving_mean"):
            layer.momentum = 0.0
    model(images, training=True)


def build_models(directory, size, images):
    """Save the flat and the nested MobileNetV2 classifiers as .keras files (random weights,
    batch-norm statistics of ``images``)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _eager():
        import keras

        keras.utils.set_random_seed(0)
        flat = keras.applications.MobileNetV2(input_shape=(size, size, 3), weights=None)
        _calibrate(flat, images / 127.5 - 1.0)
        flat.save(Path(directory) / "flat.keras")
        pixels = keras.Input((size, size, 3))
        x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(pixels)
        backbone = keras.applications.MobileNetV2(
            input_shape=(size, size, 3), weights=None, include_top=False
        )
        x = keras.layers.GlobalAveragePooling2D()(backbone(x))
        nested = keras.Model(pixels, keras.layers.Dense(10, activation="softmax", name="head")(x))
        _calibrate(nested, images)
        nested.save(Path(directory) / "nested.keras")
    return Path(directory) / "flat.keras", Path(directory) / "nested.keras"


def test_images(size, count):
    """``count`` photos (scikit-image's, then mirrored) resized to size x size, uint8-valued."""
    import skimage.data
    from PIL import Image

    photos = [getattr(skimage.data, name)() for name in PHOTOS]
    photos += [p[:, ::-1] for p in photos]
    return np.stack(
        [
            np.asarray(Image.fromarray(np.ascontiguousarray(p)).resize((size, size)), np.float32)
            for p in photos[:count]
        ]
    )


def conversion_seconds(path, repeats):
    """Seconds to read and check the config, load, trace and freeze a .keras file (in process)."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        keras_file = read_keras_file(path)
        check_trusted(keras_file, False)
        freeze_keras(keras_file)
        seconds.append(time.perf_counter() - start)
    return summarise(seconds)


def ours_against_own_passes(model, images, targets, repeats):
    """Grad-CAM (``explain``) against one session run of the forward + backward to the layer."""
    fetches = pass_fetches(model)["fwd_bwd_layer"]
    feed = {model.input_tensor: images, model.target_tensor: targets}
    model.session.run(fetches, feed)
    explain(model, images, targets)
    ours, limit, ratio = interleaved(
        lambda: explain(model, images, targets), lambda: model.session.run(fetches, feed), repeats
    )
    return {"grad_cam": ours, "fwd_bwd_layer": limit, "ratio": ratio, "images": len(images)}


def tf_keras_vis_gradcam(path, layer):
    """A function (images, targets) -> cams running tf-keras-vis Gradcam on the .keras file, or
    the reason it cannot run."""
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return "tf-keras-vis is not installed (see this module's docstring)"
    with _eager():
        import keras

        gradcam = Gradcam(
            keras.models.load_model(path, compile=False),
            model_modifier=ReplaceToLinear(),
            clone=True,
        )

    def run(images, targets, normalise, raw=False):
        with _eager():
            return gradcam(
                CategoricalScore(list(map(int, targets))),
                normalise(images),
                penultimate_layer=layer,
                seek_penultimate_conv_layer=False,
                expand_cam=not raw,
                normalize_cam=not raw,
            )

    return run


def side_by_side(model, path, images, targets, normalise, repeats):
    """Our Grad-CAM and tf-keras-vis' on the same model, images and classes, and the largest
    difference of the maps at the layer's resolution (theirs neither upsampled nor normalised,
    ours ReLU(lowres)) relative to their largest value: a check that both compute the same."""
    theirs = tf_keras_vis_gradcam(path, LAYER)
    if isinstance(theirs, str):
        return {"skipped": theirs}
    reference = np.asarray(theirs(images, targets, normalise, raw=True))
    ours = np.maximum(explain(model, images, targets).lowres, 0)
    difference = float(np.abs(ours - reference).max() / np.abs(reference).max())
    their_time, our_time, ratio = interleaved(
        lambda: theirs(images, targets, normalise), lambda: explain(model, images, targets), repeats
    )
    return {
        "tf_keras_vis": their_time,
        "grad_cam": our_time,
        "speedup": ratio,
        "map_difference": difference,
        "images": len(images),
    }


def nested_case(path, images, repeats):
    """The nested classifier: ours at the backbone's layer; tf-keras-vis' outcome there."""
    model = Model.from_file(path)
    targets = model.predict(images).argmax(axis=1).astype(np.int32)
    layer = model.default_layer
    theirs = tf_keras_vis_gradcam(path, LAYER)
    outcome = "not installed"
    if not isinstance(theirs, str):
        try:
            theirs(images[:1], targets[:1], lambda x: x)
            outcome = "ran"
        except Exception as exc:  # what its users see
            outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    timing = ours_against_own_passes(model, images, targets, repeats)
    model.close()
    return {"default_layer": layer, "ours": timing, "tf_keras_vis": outcome}


def run(quick=False, log=print):
    """Every measurement of this module -> dict (seconds per call of ``images`` images)."""
    size, count, repeats = (96, 4, 3) if quick else (224, 8, 10)
    images = test_images(size, count)
    with tempfile.TemporaryDirectory(prefix="gradcam_bench_") as directory:
        log("building models ...")
        flat, nested = build_models(directory, size, images)
        result = {
            "image_size": size,
            "images": count,
            "repeats": repeats,
            "load_average_start": list(os.getloadavg()),
        }
        log("conversion ...")
        result["conversion"] = conversion_seconds(flat, 1 if quick else 3)
        start = time.perf_counter()
        model = Model.from_file(flat, preprocessing="inception")  # MobileNetV2 wants [-1, 1]
        result["model_from_file_seconds"] = time.perf_counter() - start
        result["default_layer"] = model.default_layer
        targets = model.predict(images).argmax(axis=1).astype(np.int32)
        log("ours vs own forward + backward ...")
        result["own_passes"] = ours_against_own_passes(model, images, targets, repeats)
        log("ours vs tf-keras-vis ...")
        result["tf_keras_vis"] = side_by_side(
            model, flat, images, targets, lambda x: x / 127.5 - 1.0, repeats
        )
        model.close()
        log("nested ...")
        result["nested"] = nested_case(nested, images, max(2, repeats // 2))
        result["load_average_end"] = list(os.getloadavg())
    return result


def summary_lines(result):
    """The two ratios and the context, as printed lines."""
    own, vis = result["own_passes"], result["tf_keras_vis"]
    lines = [
        f"MobileNetV2 (Keras 3, random weights) {result['image_size']} px, "
        f"{result['images']} images per call, layer {result['default_layer']}, "
        f"{result['repeats']} repeats (medians); load average "
        f"{result['load_average_start'][0]:.2f} -> {result['load_average_end'][0]:.2f}",
        f".keras -> frozen graph (read config, load, trace, freeze): "
        f"{result['conversion']['median']:.2f} s; Model.from_file total "
        f"{result['model_from_file_seconds']:.2f} s",
        f"Grad-CAM {own['grad_cam']['median'] * 1e3:.1f} ms vs own forward + backward to the "
        f"layer {own['fwd_bwd_layer']['median'] * 1e3:.1f} ms: ratio {own['ratio']:.3f} "
        "(target <= 1.2)",
    ]
    if "skipped" in vis:
        lines.append(f"tf-keras-vis: skipped ({vis['skipped']})")
    else:
        lines.append(
            f"tf-keras-vis Gradcam {vis['tf_keras_vis']['median'] * 1e3:.1f} ms vs ours "
            f"{vis['grad_cam']['median'] * 1e3:.1f} ms: ours {vis['speedup']:.2f}x faster "
            f"(maps at the layer differ by {vis['map_difference']:.1e} of their peak)"
        )
    nested = result["nested"]
    lines.append(
        f"nested classifier (backbone as a layer): ours at {nested['default_layer']} "
        f"ratio {nested['ours']['ratio']:.3f} to own fwd+bwd; tf-keras-vis: "
        f"{nested['tf_keras_vis']}"
    )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="96 px, fewer repeats")
    args = parser.parse_args(argv)
    result = run(args.quick, log=lambda line: print(line, file=sys.stderr, flush=True))
    print("\n".join(summary_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
