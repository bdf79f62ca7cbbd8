"""Integrated Gradients (Sundararajan et al. 2017, "Axiomatic Attribution for Deep Networks"):
(x - x') times the gradient averaged along the straight path from a baseline x' to x."""

import os

import numpy as np

from gradcam.errors import UserError
from gradcam.fetch_keys import INPUT_GRADIENTS, LOGITS
from gradcam.images import load_image
from gradcam.methods.path_math import (
    BASELINES,
    completeness,
    make_baseline,
    path_alphas,
    straight_path,
)
from gradcam.methods.registry import Attribution, Cost, register
from gradcam.score import LOGIT


def endpoint_logits(model, known, images, batch_size=32):
    """Logits of ``images`` [N, ...], taken from ``known`` (one array or None per image, e.g. read
    off a path that passed through it) and computed in one batched forward for the rest."""
    missing = [i for i, logits in enumerate(known) if logits is None]
    computed = model.predict(np.asarray(images)[missing], batch_size) if missing else []
    known = list(known)
    for i, logits in zip(missing, computed):
        known[i] = logits
    return np.stack(known)


def resolve_baseline(model, baseline):
    """A baseline named by an image file becomes that image as the network sees it; other values
    (a name in BASELINES or an array) pass through to ``make_baseline``."""
    if not isinstance(baseline, (str, os.PathLike)) or baseline in BASELINES:
        return baseline
    if not os.path.isfile(baseline):
        raise UserError(
            f"unknown baseline {str(baseline)!r}: not one of {', '.join(BASELINES)} "
            "and not an image file"
        )
    return model.prepare(load_image(baseline)).astype(np.float32)


def integrate(model, image, baseline, target, steps, rule, batch_size, score=LOGIT):
    """IG of one image -> (attribution, logits at the baseline or None, logits at x or None): the
    path points go through the network in batches; a rule whose points include alpha = 0 or 1
    gives F at the baseline or at x for free."""
    alphas, weights = path_alphas(int(steps), rule)
    path = straight_path(image, baseline, alphas)
    out = model.fetch(
        path,
        np.full(len(path), target),
        [LOGITS, INPUT_GRADIENTS],
        batch_size=batch_size,
        score=score,
    )
    average = np.tensordot(weights, out[INPUT_GRADIENTS].astype(np.float64), axes=1)
    at = {float(a): logits for a, logits in zip(alphas, out[LOGITS])}
    return ((image - baseline) * average).astype(np.float32), at.get(0.0), at.get(1.0)


def path_points(options, image_size=None):
    """Cost of IG for one image: one fwd+bwd to the pixels per point of the path."""
    return Cost("fwd_bwd_input", len(path_alphas(int(options["steps"]), options["rule"])[0]))


@register(
    "integrated_gradients",
    display="magnitude",
    title="Integrated Gradients",
    cost=path_points,
    smoke={"steps": 2},
    budget={"steps": 16},
)
def integrated_gradients(
    model,
    images,
    target,
    layer=None,
    batch_size=32,
    score=LOGIT,
    baseline="black",
    steps=50,
    rule="trapezoid",
    seed=0,
):
    """``baseline``: black, blurred, uniform (noise), mean (colour) (``gradcam.substitutes``),
    an image file or an array [S, S, 3].
    Extras: ``completeness_gap`` = sum(attribution) - (F(x) - F(baseline)) and its relative
    value, which shrink as ``steps`` grows."""
    images = np.asarray(images, np.float32)
    target = model.check_target(target, len(images))
    baseline = resolve_baseline(model, baseline)
    baselines = np.stack([make_baseline(x, baseline, seed) for x in images])
    parts = [
        integrate(model, x, b, t, steps, rule, batch_size, score)
        for x, b, t in zip(images, baselines, target)
    ]
    ends = endpoint_logits(
        model,
        [p[1] for p in parts] + [p[2] for p in parts],
        np.concatenate([baselines, images]),
        batch_size,
    )
    base_logits, logits = ends[: len(images)], ends[len(images) :]
    raw = np.stack([p[0] for p in parts])
    gap, relative = completeness(
        raw,
        score.of(logits, target, model.activation),
        score.of(base_logits, target, model.activation),
    )
    return Attribution(
        raw=raw,
        logits=logits,
        extras={"completeness_gap": gap, "relative_completeness_gap": relative},
    )
