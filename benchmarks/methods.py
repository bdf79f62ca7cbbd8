"""Each registered method's time per image, next to the passes it cannot do without.

Every method is run through ``gradcam.explain.explain`` (what users call) on one image; its limit
is the passes it needs, run bare on the same session and timed alternately with the method:
one fwd+bwd for gradient methods, ``samples``/``steps`` batched fwd+bwd for SmoothGrad and the
path methods, one forward per occluded copy or masked input for occlusion and Score-CAM.
"""
import warnings

import numpy as np

from benchmarks.limits import noisy_batch, pass_fetches
from benchmarks.timing import counting, interleaved
from gradcam.explain import explain, explain_many
from gradcam.methods import METHODS

# Options of the full run (the SmoothGrad-50 / IG-50) and of the --quick smoke run.
FULL_OPTIONS = {"smoothgrad": {"samples": 50}, "integrated_gradients": {"steps": 50},
                "blur_ig": {"steps": 50}, "xrai": {"steps": 25}, "score_cam": {"max_channels": 64},
                "occlusion": {"patch": 32, "stride": 16}}
QUICK_OPTIONS = {"smoothgrad": {"samples": 2}, "integrated_gradients": {"steps": 2},
                 "blur_ig": {"steps": 2}, "xrai": {"steps": 2, "scales": (150,)},
                 "score_cam": {"max_channels": 2}, "occlusion": {"patch": 112, "stride": 112}}


def options(name, quick):
    """The benchmark's options for method ``name`` (full or --quick run)."""
    return dict((QUICK_OPTIONS if quick else FULL_OPTIONS).get(name, {}))


def occlusion_regions(model, chosen):
    from gradcam.methods.occlusion import grid_regions

    return len(grid_regions(model.image_size, chosen["patch"], chosen["stride"]))


def limit_of(name, chosen, model):
    """The passes ``name`` cannot do without: (pass, images, batched) or None."""
    if name in ("grad_cam", "grad_cam_pp"):
        return "fwd_bwd_layer", 1, False
    if name == "cam":
        return "forward", 1, False
    if name in ("gradient", "guided_backprop", "guided_grad_cam"):
        return "fwd_bwd_input", 1, False
    if name == "smoothgrad":
        return "fwd_bwd_input", chosen["samples"], True
    if name in ("integrated_gradients", "blur_ig"):
        return "fwd_bwd_input", chosen["steps"], True
    if name == "xrai":  # IG from a black and from a white baseline
        return "fwd_bwd_input", 2 * chosen["steps"], True
    if name == "occlusion":
        return "forward", 1 + occlusion_regions(model, chosen), True
    if name == "score_cam":
        return "forward", 1 + chosen["max_channels"], True
    return None


def limit_run(model, image, target, limit, batch):
    """A function doing exactly the passes of ``limit`` on copies of ``image``, in session runs of
    at most ``batch`` images."""
    name, count, batched = limit
    fetch = pass_fetches(model)[name]
    size = batch if batched else 1
    feeds = [{model.images: noisy_batch(image, min(size, count - start)),
              model.target: np.full(min(size, count - start), target, np.int32)}
             for start in range(0, count, size)]
    return lambda: [model.session.run(fetch, feed) for feed in feeds]


def time_methods(model, image, target, batch, repeats, quick):
    """One row per registered method: time per image, the session work it did, and its ratio to
    its limit, the two timed alternately in the same repeats."""
    rows = []
    for name in METHODS:
        chosen = options(name, quick)
        run = lambda: explain(model, image[None], target, name, batch_size=batch, **chosen)  # noqa: E731
        limit = limit_of(name, chosen, model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with counting(model) as session:
                run()  # also the warm-up
            reference = limit_run(model, image, target, limit, batch) if limit else lambda: None
            reference()
            heavy = name in ("smoothgrad", "integrated_gradients", "blur_ig", "xrai", "occlusion",
                             "score_cam")
            ours, bound, ratio = interleaved(run, reference, 3 if heavy and not quick else repeats)
        rows.append({"method": name, "options": {k: list(v) if isinstance(v, tuple) else v
                                                 for k, v in chosen.items()},
                     "seconds": ours, "session_runs": session.runs, "images_fed": session.images,
                     "limit_seconds": bound["median"] if limit else None,
                     "limit": describe(limit), "ratio": ratio if limit else None})
    return rows


def describe(limit):
    if limit is None:
        return "no limit formula for this method"
    name, count, batched = limit
    return f"{count} {'batched ' if batched else ''}{name.replace('_', ' ').replace('fwd bwd', 'fwd+bwd to')}"


def time_classes(model, image, classes, batch, repeats):
    """Grad-CAM for ``len(classes)`` classes of one image vs for one class, timed alternately."""
    many = lambda: explain(model, np.repeat(image[None], len(classes), 0), classes, "grad_cam",  # noqa: E731
                           batch_size=batch)
    one = lambda: explain(model, image[None], classes[0], "grad_cam", batch_size=batch)  # noqa: E731
    many(), one()
    all_classes, one_class, ratio = interleaved(many, one, repeats)
    return {"classes": len(classes), "one_class": one_class, "all_classes": all_classes, "ratio": ratio}


SHARED_PASS = ("grad_cam", "grad_cam_pp", "cam", "guided_grad_cam")


def time_shared_pass(model, image, target, repeats):
    """The CAM family and guided Grad-CAM from one shared pass vs one ``explain`` each."""
    together = lambda: explain_many(model, image[None], [target], SHARED_PASS)  # noqa: E731
    apart = lambda: [explain(model, image[None], [target], m) for m in SHARED_PASS]  # noqa: E731
    together(), apart()
    shared, separate, ratio = interleaved(together, apart, repeats)
    return {"methods": list(SHARED_PASS), "shared": shared, "separate": separate, "ratio": ratio}
