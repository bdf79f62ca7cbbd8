"""Side by side with PAIR saliency (``pip install saliency``, framework-agnostic ``saliency.core``).

PAIR's methods call the model through a ``call_model_function``; here it runs OUR graph and session
(``model.input_tensor``, ``model.target_tensor`` and the tensors of ``Model.tensors``), so both sides do the
same network passes with the same parameters, and the timings compare only how the passes are
organised (PAIR's defaults send one image per call). Where a method is deterministic the maps are
compared by Pearson correlation.
"""

import numpy as np
import saliency.core as pair

from benchmarks.timing import measure
from gradcam.explanation import explain
from gradcam.methods import METHODS


def call_model_function(model, layer=None):
    """PAIR's model interface on ``model``: one session run per call, target class in the args."""
    ours = model.tensors(["input_gradients", "score", "activations", "layer_gradients"], layer)
    tensors = {
        pair.INPUT_OUTPUT_GRADIENTS: ours["input_gradients"],
        pair.OUTPUT_LAYER_VALUES: ours["score"],
        pair.CONVOLUTION_LAYER_VALUES: ours["activations"],
        pair.CONVOLUTION_OUTPUT_GRADIENTS: ours["layer_gradients"],
    }

    def call(x_value_batch, call_model_args=None, expected_keys=None):
        x = np.asarray(x_value_batch, np.float32)
        feed = {
            model.input_tensor: x,
            model.target_tensor: np.full(len(x), call_model_args["target"], np.int32),
        }
        return model.session.run({k: tensors[k] for k in expected_keys}, feed)

    return call


def pearson(a, b):
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(np.corrcoef(a, b)[0, 1])


def compare(model, image, target, n, batch, repeats, occlusion=None):
    """Rows: method, our and PAIR's seconds per image, speed-up, correlation (deterministic ones)."""
    call = call_model_function(model)
    args = {"target": int(target)}
    x = image.astype(np.float32)
    heavy = max(1, repeats // 2)
    for keys in (
        [pair.INPUT_OUTPUT_GRADIENTS],
        [pair.OUTPUT_LAYER_VALUES],
        [pair.CONVOLUTION_LAYER_VALUES, pair.CONVOLUTION_OUTPUT_GRADIENTS],
    ):
        call(x[None], args, keys)  # TF prepares an executor per fetch set on its first run

    def ours(method, **options):
        return lambda: explain(model, image[None], target, method, batch_size=batch, **options)

    cases = [
        (
            "gradient",
            ours("gradient"),
            lambda: pair.GradientSaliency().GetMask(x, call, args),
            repeats,
            lambda o: o.raw[0],
            lambda p: p,
        ),
        (
            "grad_cam",
            ours("grad_cam"),
            lambda: pair.GradCam().GetMask(x, call, args, should_resize=False, three_dims=False),
            repeats,
            lambda o: np.maximum(o.lowres[0], 0),
            lambda p: p,
        ),
        (
            f"smoothgrad (n={n}, squared, noise 0.15)",
            ours("smoothgrad", samples=n, squared=True),
            lambda: pair.GradientSaliency().GetSmoothedMask(
                x, call, args, stdev_spread=0.15, nsamples=n
            ),
            heavy,
            None,
            None,
        ),
        (
            f"integrated_gradients ({n} steps, black)",
            ours("integrated_gradients", steps=n),
            lambda: pair.IntegratedGradients().GetMask(
                x, call, args, x_steps=n, x_baseline=np.zeros_like(x)
            ),
            heavy,
            lambda o: o.raw[0],
            lambda p: p,
        ),
        (
            f"integrated_gradients ({n} steps, PAIR batch_size={batch})",
            ours("integrated_gradients", steps=n),
            lambda: pair.IntegratedGradients().GetMask(
                x, call, args, x_steps=n, x_baseline=np.zeros_like(x), batch_size=batch
            ),
            heavy,
            None,
            None,
        ),
        (
            f"blur_ig ({n} steps, max_sigma 50)",
            ours("blur_ig", steps=n, max_sigma=50.0),
            lambda: pair.BlurIG().GetMask(x, call, args, steps=n, max_sigma=50),
            heavy,
            lambda o: o.raw[0],
            lambda p: p,
        ),
    ]
    rows = []
    for name, our_run, pair_run, times, our_map, pair_map in cases:
        row = {
            "method": name,
            "ours": measure(our_run, times, warmup=0),
            "pair": measure(pair_run, times, warmup=0),
        }
        row["speedup"] = row["pair"]["median"] / row["ours"]["median"]
        if our_map is not None:
            row["pearson"] = pearson(our_map(our_run()), pair_map(pair_run()))
        rows.append(row)
    rows.append(occlusion_per_forward(model, image, target, x, call, args, repeats, occlusion))
    return rows


def occlusion_per_forward(model, image, target, x, call, args, repeats, options, windows=8):
    """PAIR's Occlusion slides a 15x15 window with stride 1 (44100 single-image forwards at 224),
    too slow to run whole: time its per-window step (copy, occlude, one-image run) on ``windows``
    windows and compare per occluded forward with our batched occlusion."""
    occluder = pair.Occlusion()

    def pair_windows():
        for col in range(windows):
            occluded = np.array(x)
            occluded[0:15, col : col + 15, :] = 0
            occluder.getY(occluded, call, args)

    forwards = METHODS["occlusion"].passes(options, model.input_size).images + 1
    ours = measure(
        lambda: explain(model, image[None], target, "occlusion", **options), 1, forwards, 0
    )
    theirs = measure(pair_windows, repeats, windows, 0)
    full = (1 + x.shape[0] - 15) * (1 + x.shape[1] - 15)
    return {
        "method": "occlusion (per occluded forward)",
        "ours": ours,
        "pair": theirs,
        "speedup": theirs["median"] / ours["median"],
        "note": f"PAIR full run would be {full} one-image forwards, about "
        f"{full * theirs['median'] / 60:.0f} min; ours: {forwards} forwards in batches",
    }
