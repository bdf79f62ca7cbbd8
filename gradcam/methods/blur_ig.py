"""Blur IG (Xu et al. 2020, "Attribution in Scale and Space"): integrate gradients along the path
from a maximally Gaussian-blurred copy of the image to the image itself."""

import numpy as np

from gradcam.fetch_keys import INPUT_GRADIENTS, LOGITS
from gradcam.methods.path_math import blur_path, completeness
from gradcam.methods.registry import Attribution, Cost, register
from gradcam.score import LOGIT


def blur_integrate(model, image, target, max_sigma, steps, batch_size, score):
    """sum_k grad F(L_k) * (L_{k+1} - L_k) over the blur path L_0 (max blur) .. L_steps (image)
    -> (attribution, L_0, logits at L_0)."""
    _, path = blur_path(image, max_sigma, int(steps))
    out = model.fetch(
        path[:-1],
        np.full(len(path) - 1, target),
        [LOGITS, INPUT_GRADIENTS],
        batch_size=batch_size,
        score=score,
    )
    attribution = (out[INPUT_GRADIENTS] * np.diff(path, axis=0)).sum(axis=0).astype(np.float32)
    return attribution, path[0], out[LOGITS][0]


@register(
    "blur_ig",
    display="magnitude",
    title="Blur IG",
    smoke={"steps": 2},
    budget={"steps": 16},
    cost=lambda options, size: Cost("fwd_bwd_input", int(options["steps"])),
)
def blur_ig(
    model, images, target, layer=None, batch_size=32, score=LOGIT, max_sigma=50.0, steps=50
):
    """Extras: ``completeness_gap`` against the maximally blurred image, as for IG."""
    images = np.asarray(images, np.float32)
    target = model.check_target(target, len(images))
    parts = [
        blur_integrate(model, x, t, float(max_sigma), steps, batch_size, score)
        for x, t in zip(images, target)
    ]
    raw = np.stack([p[0] for p in parts])
    logits = model.predict(images, batch_size)
    gap, relative = completeness(
        raw,
        score.of(logits, target, model.activation),
        score.of(np.stack([p[2] for p in parts]), target, model.activation),
    )
    return Attribution(
        raw=raw,
        logits=logits,
        extras={"completeness_gap": gap, "relative_completeness_gap": relative},
    )
