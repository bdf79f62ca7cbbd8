"""Deletion and insertion curves (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling
for Explanation of Black-box Models", BMVC).

Pixels are ranked by the saliency map, most salient first. Deletion replaces the top-ranked pixels
of the image by a substrate (zero = black, or a blurred copy: ``gradcam.substitutes``, whose blur
here is PIL's approximation, as the published figures were measured) in ``steps`` equal steps and records
the class score after each; insertion starts from the baseline and puts the top-ranked pixels
back. A good map makes the deletion curve fall fast (low AUC) and the insertion curve rise fast
(high AUC). AUC is the trapezoid area over the removed/inserted fraction in [0, 1].
"""

import numpy as np

from gradcam.substitutes import fill_image

BASELINES = ("zero", "blur")  # the substrates of gradcam.substitutes the curves offer


def substrate_image(image, kind="zero", blur_radius=5.0):
    """float32 substrate of a H x W x 3 image: black, or Gaussian-blurred with sigma
    ``blur_radius`` by PIL's approximation (RISE used sigma 5)."""
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline {kind!r}; valid: {', '.join(BASELINES)}")
    return fill_image(image, kind, sigma=blur_radius, exact=False)


def pixel_ranks(saliency, seed=0):
    """Rank of every pixel of a H x W map (0 = most salient). Ties (the flat zero areas of a
    rectified CAM map) are broken in a seeded random order, not raster order, so a plateau is not
    deleted from the top rows down."""
    values = np.asarray(saliency, np.float64).ravel()
    tie_break = np.random.default_rng(seed).permutation(values.size)
    order = np.lexsort((tie_break, -values))
    ranks = np.empty(order.size, np.int64)
    ranks[order] = np.arange(order.size)
    return ranks.reshape(np.shape(saliency))


def step_counts(pixels, steps, step_pixels=None):
    """Number of pixels changed after each of the steps + 1 points (0 .. all). With
    ``step_pixels``, RISE's rule instead: that many pixels per step, ceil(pixels / step_pixels)
    steps, the last one possibly shorter."""
    if step_pixels is not None:
        n_steps = -(-int(pixels) // int(step_pixels))
        return np.minimum(np.arange(n_steps + 1, dtype=np.int64) * int(step_pixels), pixels)
    return np.round(np.linspace(0, pixels, steps + 1)).astype(np.int64)


def perturbed_batches(image, saliency, baseline, mode, steps, batch_size, step_pixels=None):
    """Yield batches of the steps + 1 perturbed copies of ``image`` (float32 B x H x W x 3)."""
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    image = np.asarray(image, np.float32)
    ranks = pixel_ranks(saliency)
    counts = step_counts(ranks.size, steps, step_pixels)
    source, fill = (image, baseline) if mode == "deletion" else (baseline, image)
    for start in range(0, len(counts), batch_size):
        changed = ranks[None] < counts[start : start + batch_size, None, None]
        yield np.where(changed[..., None], fill[None], source[None])


def curve(
    score_fn, image, saliency, mode, baseline="zero", steps=32, batch_size=32, step_pixels=None
):
    """Scores [steps + 1] of ``score_fn`` (batch of images -> [B] scores) along the curve
    (with ``step_pixels``, one score per RISE step: see ``step_counts``)."""
    if isinstance(baseline, str):
        baseline = substrate_image(image, baseline)
    base = np.asarray(baseline, np.float32)
    return np.concatenate(
        [
            np.asarray(score_fn(batch), np.float64).reshape(-1)
            for batch in perturbed_batches(
                image, saliency, base, mode, steps, batch_size, step_pixels
            )
        ]
    )


def auc(values):
    """Trapezoid area under a curve sampled at equal steps over [0, 1]."""
    values = np.asarray(values, np.float64)
    return float((values[:-1] + values[1:]).sum() / (2.0 * (len(values) - 1)))


def probability_fn(model, target, batch_size=32):
    """score_fn: softmax probability of class ``target`` under a ``Model``."""

    def score(images):
        return model.fetch(images, keys=["probabilities"], batch_size=batch_size)["probabilities"][
            :, int(target)
        ]

    return score


def deletion_insertion(
    model,
    images,
    maps,
    targets,
    steps=32,
    batch_size=32,
    deletion_baseline="zero",
    insertion_baseline="blur",
):
    """Curves [N, steps + 1] and AUCs [N] of deletion and insertion for each (image, map, target);
    the score is the target's softmax probability, as in RISE."""
    out = {"deletion_curve": [], "insertion_curve": []}
    for image, saliency, target in zip(images, maps, targets):
        score = probability_fn(model, target, batch_size)
        out["deletion_curve"].append(
            curve(score, image, saliency, "deletion", deletion_baseline, steps, batch_size)
        )
        out["insertion_curve"].append(
            curve(score, image, saliency, "insertion", insertion_baseline, steps, batch_size)
        )
    out = {k: np.stack(v) for k, v in out.items()}
    out["deletion_auc"] = np.array([auc(c) for c in out["deletion_curve"]])
    out["insertion_auc"] = np.array([auc(c) for c in out["insertion_curve"]])
    return out
