"""Faithfulness with controls: the SRG of a method's map against the SRG of a random map and of a
blurred copy of the method's own map.

SRG, the symmetric relevance gain (Blücher, Vielhaben & Strodthoff 2024, "Decoupling Pixel
Flipping and Occlusion Strategy for Consistent XAI Benchmarks", TMLR): pixels are replaced by a
fill in ``steps`` equal steps, once most relevant first (MoRF) and once least relevant first
(LeRF), and the target's softmax probability is recorded after each step; SRG = AUC(LeRF) -
AUC(MoRF) (trapezoid over the fraction removed in [0, 1]). A fill's own effect on the model hits
both curves alike and cancels, which a MoRF curve alone does not.

The fill is a blurred copy of the image (``gradcam.evaluation.perturbation.substrate_image``,
PIL Gaussian radius 5, RISE's insertion canvas). Pixel order follows
``gradcam.evaluation.perturbation.pixel_ranks`` (ties in seeded random order).

Controls, scored the same way on the same images:
- a random map (uniform noise, seeded): what SRG gives a map that knows nothing;
- the method's map blurred (Gaussian, sigma ``Thresholds.blur_sigma`` of the image side): pixel
  removal scores reward smooth maps (Song et al.; Rong et al. 2022), so a method is credited for
  its detail only when it beats its own blur.
Verdict: fail unless SRG is clearly above the random map's; warn when the blurred copy is clearly
above the method (the score then comes from smoothness, not from the method's own detail); else
pass. "Clearly above" = the mean per-image difference exceeds the margin and two standard errors.
A map that is smooth already (Grad-CAM's 7 x 7 upsampled) equals its blur, so it cannot be clearly
above it; requiring that would credit noisy detail, hence "not clearly below" its blur.
"""

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import scipy.ndimage

from gradcam.evaluation.perturbation import auc, pixel_ranks, step_counts, substrate_image
from gradcam.method_trust.protocol import THRESHOLDS

MIN_IMAGES = 3  # a standard error needs a few images
FILL = "blur"


def removal_images(image, saliency, fill, counts, least_first=False):
    """The copies of ``image`` with the ``counts[k]`` most (or least) relevant pixels of
    ``saliency`` replaced by ``fill``: float32 [len(counts), H, W, 3]."""
    ranks = pixel_ranks(-np.asarray(saliency) if least_first else saliency)
    changed = ranks[None] < np.asarray(counts)[:, None, None]
    return np.where(changed[..., None], np.asarray(fill, np.float32)[None], image[None])


def srg_curves(probability, image, maps, steps, fill=None, batch_size=32):
    """MoRF and LeRF curves [len(maps), steps + 1] of each map of ``maps`` on ``image``.

    ``probability(images) -> [B]``: the target's probability. The unchanged image and the full
    fill are scored once for all maps.
    """
    image = np.asarray(image, np.float32)
    fill = substrate_image(image, FILL) if fill is None else np.asarray(fill, np.float32)
    counts = step_counts(image.shape[0] * image.shape[1], steps)[1:-1]
    ends = probability(np.stack([image, fill]))
    copies = [
        removal_images(image, m, fill, counts, least_first) for m in maps for least_first in (0, 1)
    ]
    stacked = np.concatenate(copies) if copies else np.zeros((0, *image.shape), np.float32)
    scores = np.concatenate(
        [probability(stacked[s : s + batch_size]) for s in range(0, len(stacked), batch_size)]
        or [np.zeros(0)]
    ).reshape(len(maps), 2, len(counts))
    start = np.full((len(maps), 2, 1), ends[0])
    end = np.full((len(maps), 2, 1), ends[1])
    curves = np.concatenate([start, scores, end], axis=2)
    return curves[:, 0], curves[:, 1]


def srg(morf, lerf) -> float:
    """AUC(LeRF) - AUC(MoRF)."""
    return auc(lerf) - auc(morf)


def blurred(saliency, sigma_fraction=THRESHOLDS.blur_sigma):
    """The blurred control of a map: Gaussian blur, sigma a fraction of the map's shorter side."""
    return scipy.ndimage.gaussian_filter(
        np.asarray(saliency, np.float64), sigma_fraction * min(np.shape(saliency)), mode="nearest"
    ).astype(np.float32)


def random_maps(shape, seed) -> np.ndarray:
    """The random control: uniform noise maps [N, H, W], seeded."""
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def clearly_above(gains, margin=THRESHOLDS.faithfulness_margin) -> bool:
    """True when the mean per-image gain exceeds ``margin`` and two standard errors."""
    gains = np.asarray(gains, np.float64)
    if len(gains) < 2:
        return False
    error = gains.std(ddof=1) / np.sqrt(len(gains))
    return bool(gains.mean() > max(margin, 2 * error))


def faithfulness_verdict(scores, random_scores, blurred_scores) -> str:
    """fail: not clearly above the random map; warn: the blurred map is clearly above the method
    (its score is the blurriness bias's, not its own detail's); pass: otherwise."""
    scores = np.asarray(scores)
    if not clearly_above(scores - np.asarray(random_scores)):
        return "fail"
    return "warn" if clearly_above(np.asarray(blurred_scores) - scores) else "pass"


@dataclass(kw_only=True)
class FaithfulnessResult:
    """Per-image SRG of each method and of its blurred control, and of the random control."""

    steps: int
    images: int
    random: list = field(default_factory=list)
    scores: dict = field(default_factory=dict)
    blurred: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)  # method -> mean MoRF, LeRF curves

    def cell(self, method) -> Optional[dict]:
        if method in self.errors:
            return {"error": self.errors[method], "verdict": None}
        if method not in self.scores:
            return None
        return {
            "score": float(np.mean(self.scores[method])),
            "random_control": float(np.mean(self.random)),
            "blurred_control": float(np.mean(self.blurred[method])),
            "metric": "SRG",
            "per_image": self.scores[method],
            "verdict": faithfulness_verdict(self.scores[method], self.random, self.blurred[method]),
        }


def faithfulness_check(
    model, images, targets, maps, *, steps, seed=0, batch_size=32, progress=None
) -> FaithfulnessResult:
    """SRG of each method's evidence map ({method: MethodMaps}) and of the two controls."""
    images = np.asarray(images, np.float32)
    result = FaithfulnessResult(steps=steps, images=len(images))
    runnable = [m for m, v in maps.items() if v.error is None]
    result.errors = {m: v.error for m, v in maps.items() if v.error is not None}
    if len(images) < MIN_IMAGES:
        reason = f"needs at least {MIN_IMAGES} images, got {len(images)}"
        result.errors.update({m: reason for m in runnable})
        return result
    noise = random_maps(images.shape[:3], seed)
    sums = {m: np.zeros((2, steps + 1)) for m in runnable}
    for i, (image, target) in enumerate(zip(images, targets)):

        def probability(batch, target=int(target)):
            out = model.fetch(batch, keys=["probabilities"], batch_size=batch_size)
            return out["probabilities"][:, target]

        candidates = [noise[i]]
        for method in runnable:
            evidence = maps[method].evidence[i]
            candidates += [evidence, blurred(evidence)]
        morf, lerf = srg_curves(probability, image, candidates, steps, batch_size=batch_size)
        result.random.append(srg(morf[0], lerf[0]))
        for j, method in enumerate(runnable):
            result.scores.setdefault(method, []).append(srg(morf[1 + 2 * j], lerf[1 + 2 * j]))
            result.blurred.setdefault(method, []).append(srg(morf[2 + 2 * j], lerf[2 + 2 * j]))
            sums[method] += np.stack([morf[1 + 2 * j], lerf[1 + 2 * j]])
        if progress:
            progress(f"faithfulness: image {i + 1}/{len(images)}")
    result.curves = {
        m: {"morf": (s[0] / len(images)).tolist(), "lerf": (s[1] / len(images)).tolist()}
        for m, s in sums.items()
    }
    return result
