"""Each registered method's time per image, next to the passes it cannot do without.

Every method is run through ``gradcam.explanation.explain`` (what users call) on one image; its limit
is the passes it needs, run bare on the same session and timed alternately with the method:
exactly what the method declared at registration (``Method.cost``): one fwd+bwd for gradient
methods, ``samples``/``steps`` batched fwd+bwd for SmoothGrad and the path methods, one forward per
occluded copy or masked input for occlusion, Score-CAM and RISE, one head evaluation (the network
above the layer, fed its activations) per ablated channel for Ablation-CAM. Options: each method's
defaults (its ``smoke`` options for --quick).
"""

import warnings

import numpy as np

from benchmarks.limits import pass_feed, pass_fetches
from benchmarks.timing import counting, interleaved
from gradcam.explanation import explain, explain_many
from gradcam.methods import METHODS


def options(name, quick):
    """The benchmark's options for method ``name``: its defaults, or its smoke options (--quick)."""
    return dict(METHODS[name].smoke) if quick else {}


def limit_run(model, image, target, limit, batch):
    """A function doing exactly the passes of ``limit`` on copies of ``image``, in session runs of
    at most ``batch`` images."""
    fetch = pass_fetches(model)[limit.passes]
    count = limit.images
    feeds = [
        pass_feed(model, limit.passes, image, min(batch, count - start), target)
        for start in range(0, count, batch)
    ]
    return lambda: [model.session.run(fetch, feed) for feed in feeds]


def layer_channels(model):
    """Channels of the model's default layer (the width Ablation-CAM ablates)."""
    return int(model.tensors(["activations"])["activations"].shape[-1])


def time_methods(model, image, target, batch, repeats, quick, names=None):
    """One row per registered method (or per method of ``names``): time per image, the session
    work it did, and its ratio to its limit, the two timed alternately in the same repeats."""
    rows = []
    for name, method in METHODS.items():
        if names is not None and name not in names:
            continue
        chosen = options(name, quick)

        def run(name=name, chosen=chosen):
            return explain(model, image[None], target, name, batch_size=batch, **chosen)

        limit = method.passes(chosen, model.input_size, layer_channels(model))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with counting(model) as session:
                run()  # also the warm-up
            reference = limit_run(model, image, target, limit, batch)
            reference()
            heavy = limit.images > 1
            ours, bound, ratio = interleaved(run, reference, 3 if heavy and not quick else repeats)
        rows.append(
            {
                "method": name,
                "options": {k: list(v) if isinstance(v, tuple) else v for k, v in chosen.items()},
                "seconds": ours,
                "session_runs": session.runs,
                "images_fed": session.images,
                "limit_seconds": bound["median"],
                "limit": describe(limit),
                "ratio": ratio,
            }
        )
    return rows


def describe(limit):
    """ "16 batched fwd+bwd to input" for ``Cost("fwd_bwd_input", 16)``, "1280 batched head (fed
    the layer)" for ``Cost("head", 1280)``."""
    passes = limit.passes.replace("_", " ").replace("fwd bwd", "fwd+bwd to")
    if limit.passes == "head":
        passes = "head (fed the layer)"
    return f"{limit.images} {'batched ' if limit.images > 1 else ''}{passes}"


def time_classes(model, image, classes, batch, repeats):
    """Grad-CAM for ``len(classes)`` classes of one image vs for one class, timed alternately."""
    many = lambda: explain(
        model,
        np.repeat(image[None], len(classes), 0),
        classes,
        "grad_cam",  # noqa: E731
        batch_size=batch,
    )
    one = lambda: explain(model, image[None], classes[0], "grad_cam", batch_size=batch)  # noqa: E731
    many(), one()
    all_classes, one_class, ratio = interleaved(many, one, repeats)
    return {
        "classes": len(classes),
        "one_class": one_class,
        "all_classes": all_classes,
        "ratio": ratio,
    }


SHARED_PASS = ("grad_cam", "grad_cam_pp", "cam", "guided_grad_cam")


def time_shared_pass(model, image, target, repeats):
    """The CAM family and guided Grad-CAM from one shared pass vs one ``explain`` each."""
    together = lambda: explain_many(model, image[None], [target], SHARED_PASS)  # noqa: E731
    apart = lambda: [explain(model, image[None], [target], m) for m in SHARED_PASS]  # noqa: E731
    together(), apart()
    shared, separate, ratio = interleaved(together, apart, repeats)
    return {"methods": list(SHARED_PASS), "shared": shared, "separate": separate, "ratio": ratio}
