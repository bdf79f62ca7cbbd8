"""Integrated Gradients (Sundararajan et al. 2017, "Axiomatic Attribution for Deep Networks"):
(x - x') times the gradient averaged along the straight path from a baseline x' to x."""
import numpy as np

from gradcam.methods.path_math import completeness, make_baseline, path_alphas, straight_path
from gradcam.methods.registry import Attribution, register


def target_scores(model, images, target, batch_size=32):
    """Logits [N, classes] and the target logit [N] of each image."""
    logits = model.predict(images, batch_size)
    return logits, logits[np.arange(len(images)), target]


def integrate(model, image, baseline, target, steps, rule, batch_size):
    """IG of one image: the path points go through the network in batches of ``batch_size``."""
    alphas, weights = path_alphas(int(steps), rule)
    path = straight_path(image, baseline, alphas)
    grads = model.input_gradients(path, np.full(len(path), target), batch_size)["gradients"]
    average = np.tensordot(weights, grads.astype(np.float64), axes=1)
    return ((image - baseline) * average).astype(np.float32)


@register("integrated_gradients", kind="pixel", title="Integrated Gradients")
def integrated_gradients(model, images, target, layer=None, batch_size=32, baseline="black",
                         steps=50, rule="trapezoid", seed=0):
    """Extras: ``completeness_gap`` = sum(attribution) - (F(x) - F(baseline)) and its relative
    value, which shrink as ``steps`` grows."""
    images = np.asarray(images, np.float32)
    target = model.check_target(target, len(images))
    baselines = np.stack([make_baseline(x, baseline, seed) for x in images])
    raw = np.stack([integrate(model, x, b, t, steps, rule, batch_size)
                    for x, b, t in zip(images, baselines, target)])
    logits, score = target_scores(model, images, target, batch_size)
    _, base_score = target_scores(model, baselines, target, batch_size)
    gap, relative = completeness(raw, score, base_score)
    return Attribution(raw, logits, extras={"completeness_gap": gap, "relative_completeness_gap": relative})
