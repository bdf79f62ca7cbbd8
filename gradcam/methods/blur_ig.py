"""Blur IG (Xu et al. 2020, "Attribution in Scale and Space"): integrate gradients along the path
from a maximally Gaussian-blurred copy of the image to the image itself."""

import numpy as np

from gradcam.methods.path_math import blur_path, completeness
from gradcam.methods.registry import Attribution, Cost, register


def blur_integrate(model, image, target, max_sigma, steps, batch_size):
    """sum_k grad F(L_k) * (L_{k+1} - L_k) over the blur path L_0 (max blur) .. L_steps (image)
    -> (attribution, L_0, logits at L_0)."""
    _, path = blur_path(image, max_sigma, int(steps))
    out = model.fetch(
        path[:-1],
        np.full(len(path) - 1, target),
        ["logits", "input_gradients"],
        batch_size=batch_size,
    )
    attribution = (out["input_gradients"] * np.diff(path, axis=0)).sum(axis=0).astype(np.float32)
    return attribution, path[0], out["logits"][0]


@register(
    "blur_ig",
    kind="pixel",
    title="Blur IG",
    smoke={"steps": 2},
    budget={"steps": 16},
    cost=lambda options, size: Cost("fwd_bwd_input", int(options["steps"])),
)
def blur_ig(model, images, target, layer=None, batch_size=32, max_sigma=50.0, steps=50):
    """Extras: ``completeness_gap`` against the maximally blurred image, as for IG."""
    images = np.asarray(images, np.float32)
    target = model.check_target(target, len(images))
    parts = [
        blur_integrate(model, x, t, float(max_sigma), steps, batch_size)
        for x, t in zip(images, target)
    ]
    raw = np.stack([p[0] for p in parts])
    logits = model.predict(images, batch_size)
    gap, relative = completeness(
        raw, model.score_of(logits, target), model.score_of(np.stack([p[2] for p in parts]), target)
    )
    return Attribution(
        raw, logits, extras={"completeness_gap": gap, "relative_completeness_gap": relative}
    )
