"""The causal shortcut test of one strategy (cluster), with controls, and the consistency of its
hot patch in place and content. Forward passes only (``model.predict``).

For a cluster of class c: its hot region R is the top ``area`` share of the pixels of its mean
map (upsampled to the network input). Masking fills R (each image's mean colour, or a blurred
copy of the image) and measures the drop of the class's logit:

- ``drop``: in the members;
- ``control_drop`` (control a): a region of the same shape and area, placed at random (a circular
  shift overlapping R by at most a quarter), in the same members;
- ``other_images_drop`` (control b): R itself in the class's images outside the cluster;
- ``transplant_flip_rate``: R's pixels of a member pasted into images of other classes, the share
  whose top class becomes c.

Masking the object itself also drops the score, so a causal effect alone is no shortcut. What
marks an artefact (tag, watermark, ruler, frame) is that it is the same thing in the same place:
``position_spread`` (RMS distance of the members' map peaks from their mean, in image sides) and
``template_similarity`` (mean pairwise Pearson correlation of the members' grey levels inside R,
against ``template_baseline``, the same statistic for crops of R's shape at random places in the
class's images). ``ShortcutRule`` says when all of it together flags a candidate; the p-values
are one-sided permutation tests (paired sign flips against control a, a two-sample test against
control b) and the interval a bootstrap of the mean drop. The members of one cluster are not
independent evidence: a person decides, looking at the gallery.
"""

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
from PIL import Image, ImageFilter
from scipy import stats

from gradcam import postprocess
from gradcam.arrays import frame_shape
from gradcam.errors import UserError

FILLS = ("mean", "blur")


@dataclass(frozen=True, kw_only=True)
class ShortcutRule:
    """When a cluster is a shortcut candidate: all of

    - ``p_value <= alpha`` (the drop exceeds both controls, permutation tests);
    - ``drop >= ratio * max(control_drop, other_images_drop, 0)`` and ``drop > min_drop``;
    - ``position_spread <= max_spread`` (same place);
    - ``template_similarity >= min_similarity`` and at least ``min_similarity_gain`` above the
      random crops' ``template_baseline`` (same content).
    """

    alpha: float = 0.01
    ratio: float = 2.0
    min_drop: float = 0.0
    max_spread: float = 0.15
    min_similarity: float = 0.5
    min_similarity_gain: float = 0.25

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class ShortcutTest:
    """Numbers of one cluster's test (drops in the class's logit, higher = more evidence lost).

    Attributes:
        drop: mean drop masking R in the members; ``drop_interval`` its 95% bootstrap interval.
        control_drop: mean drop masking a random same-area region in the same members.
        other_images_drop: mean drop masking R in the class's other images (None: there are none).
        transplant_flip_rate: share of other classes' images that R's pasted pixels turn into
            the class (None: no such images).
        p_value: the larger of ``p_random`` (drop vs control a) and ``p_other`` (vs control b).
        images, other_images, transplants: how many images each part used.
        forward_passes: the network runs the test made (images edited and predicted).
        area: R's share of the image; fill: how R was filled.
        position_spread, template_similarity, template_baseline: the consistency statistics.
    """

    drop: float
    drop_interval: tuple
    control_drop: float
    other_images_drop: Optional[float]
    transplant_flip_rate: Optional[float]
    p_value: float
    p_random: float
    p_other: Optional[float]
    images: int
    other_images: int
    transplants: int
    forward_passes: int
    area: float
    fill: str
    position_spread: float
    template_similarity: float
    template_baseline: float

    @property
    def effect(self) -> float:
        """The drop beyond the larger control (what the suspicious table ranks by)."""
        controls = [self.control_drop] + [self.other_images_drop or 0.0]
        return float(self.drop - max(controls))

    def to_json(self) -> dict:
        out = asdict(self)
        out["drop_interval"] = list(self.drop_interval)
        return out


def hot_region(mean_map, size, area: float = 0.1) -> np.ndarray:
    """bool [H, W] (``size`` = (H, W), or S for S x S): the ``area`` share of pixels where the
    upsampled mean map is largest."""
    if not 0 < area < 1:
        raise UserError(f"{{argument}} must be between 0 and 1, got {area}", "area")
    shape = frame_shape(size)
    up = postprocess.upsample(np.asarray(mean_map, np.float32)[None], shape)[0]
    count = max(1, int(round(area * up.size)))
    order = np.argsort(-up.reshape(-1), kind="stable")[:count]
    mask = np.zeros(up.size, bool)
    mask[order] = True
    return mask.reshape(shape)


def fill_region(images, masks, fill: str = "mean") -> np.ndarray:
    """uint8 copies of ``images`` [N, H, W, 3] with ``masks`` ([H, W] or [N, H, W]) filled by
    each image's mean colour ("mean") or a Gaussian-blurred copy of it ("blur", radius a 16th of
    the shorter side)."""
    images = np.asarray(images)
    masks = np.broadcast_to(np.asarray(masks, bool), images.shape[:3])
    if fill == "mean":
        filler = np.broadcast_to(
            np.round(images.reshape(len(images), -1, 3).mean(axis=1))[:, None, None, :],
            images.shape,
        )
    elif fill == "blur":
        radius = max(1.0, min(images.shape[1:3]) / 16.0)
        filler = np.stack(
            [
                np.asarray(Image.fromarray(im).filter(ImageFilter.GaussianBlur(radius)))
                for im in images
            ]
        )
    else:
        raise UserError(f"{{argument}} must be one of {', '.join(FILLS)}, got {fill!r}", "fill")
    return np.where(masks[..., None], filler, images).astype(np.uint8)


def shifted_masks(mask, n: int, rng, max_overlap: float = 0.25, tries: int = 50) -> np.ndarray:
    """bool [n, H, W]: ``mask`` circularly shifted by random offsets (same shape and area), each
    overlapping the original by at most ``max_overlap`` of its area when such a shift is found."""
    mask = np.asarray(mask, bool)
    sides = np.asarray(mask.shape)
    area = mask.sum()
    out = np.empty((n,) + mask.shape, bool)
    for i in range(n):
        best, best_overlap = None, np.inf
        for _ in range(tries):
            dy, dx = rng.integers(0, sides)
            moved = np.roll(mask, (dy, dx), axis=(0, 1))
            overlap = (moved & mask).sum() / area
            if overlap < best_overlap:
                best, best_overlap = moved, overlap
            if overlap <= max_overlap:
                break
        out[i] = best
    return out


def class_scores(model, images, class_index: int, batch_size: int = 32) -> np.ndarray:
    """The class's logit for each network-input image (one forward pass each)."""
    return model.predict(np.asarray(images), batch_size)[:, int(class_index)].astype(np.float64)


def masked_drop(model, images, masks, class_index, *, original=None, fill="mean", batch_size=32):
    """float [N]: original logit minus the logit with ``masks`` filled (``original``: the
    unedited logits of the class, else computed with one more pass per image)."""
    if original is None:
        original = class_scores(model, images, class_index, batch_size)
    edited = fill_region(images, masks, fill)
    return np.asarray(original, np.float64) - class_scores(model, edited, class_index, batch_size)


def transplant(model, donors, receivers, mask, class_index, batch_size=32) -> np.ndarray:
    """bool [M]: receiver j with donor j % len(donors)'s pixels inside ``mask`` pasted in has
    ``class_index`` as its top class."""
    receivers = np.asarray(receivers)
    if not len(receivers):
        return np.zeros(0, bool)
    donors = np.asarray(donors)[np.arange(len(receivers)) % len(donors)]
    pasted = np.where(np.asarray(mask, bool)[None, ..., None], donors, receivers)
    return model.predict(pasted.astype(np.uint8), batch_size).argmax(axis=1) == int(class_index)


def position_spread(peaks) -> float:
    """RMS distance of peaks [N, 2] (image sides) from their mean."""
    peaks = np.asarray(peaks, np.float64)
    return float(np.sqrt(((peaks - peaks.mean(axis=0)) ** 2).sum(axis=1).mean()))


def _grey(images):
    return np.asarray(images, np.float64) @ np.array([0.299, 0.587, 0.114])


def crop_similarity(images, masks) -> float:
    """Mean pairwise Pearson correlation of the images' grey levels inside ``masks`` ([S, S], or
    one [S, S] per image, all of one area); crops without contrast count as uncorrelated."""
    grey = _grey(images)
    masks = np.broadcast_to(np.asarray(masks, bool), grey.shape)
    crops = np.stack([g[m] for g, m in zip(grey, masks)])
    if len(crops) < 2:
        return float("nan")
    crops = crops - crops.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(crops, axis=1, keepdims=True)
    unit = np.divide(crops, norms, out=np.zeros_like(crops), where=norms > 1e-9)
    corr = unit @ unit.T
    n = len(crops)
    return float((corr.sum() - np.trace(corr)) / (n * (n - 1)))


def _permutation_p(statistic, samples, kind, resamples, seed):
    result = stats.permutation_test(
        samples,
        statistic,
        permutation_type=kind,
        alternative="greater",
        n_resamples=resamples,
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(result.pvalue)


def _mean_difference(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _paired_mean_difference(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def shortcut_test(
    model,
    class_index: int,
    mask,
    *,
    members,
    member_scores,
    member_peaks,
    others=None,
    other_scores=None,
    foreign=None,
    class_images=None,
    fill: str = "mean",
    seed: int = 0,
    batch_size: int = 32,
    resamples: int = 9999,
) -> ShortcutTest:
    """Run the test for one cluster.

    Args:
        model: anything with ``predict(images, batch_size) -> logits`` (a ``gradcam.Model``).
        class_index: the class c.
        mask: bool [S, S] hot region R (``hot_region``).
        members: uint8 [n, S, S, 3] network inputs of the cluster's images; ``member_scores``
            their unedited logits of c, ``member_peaks`` [n, 2] their map peaks.
        others: the class's images outside the cluster and ``other_scores`` their logits of c.
        foreign: images of other classes whose top class is not c (for the transplant).
        class_images: the class's images for the random-crop baseline (default: members+others).
        fill, seed, batch_size: as named; resamples: permutation-test resamples.
    """
    rng = np.random.default_rng(seed)
    members = np.asarray(members)
    n = len(members)
    if n < 2:
        raise UserError(f"a shortcut test needs at least 2 member images, got {n}")
    drops = masked_drop(
        model, members, mask, class_index, original=member_scores, fill=fill, batch_size=batch_size
    )
    random_masks = shifted_masks(mask, n, rng)
    controls = masked_drop(
        model,
        members,
        random_masks,
        class_index,
        original=member_scores,
        fill=fill,
        batch_size=batch_size,
    )
    passes = 2 * n
    p_random = _permutation_p(
        _paired_mean_difference, (drops, controls), "samples", resamples, seed
    )
    other_drop, p_other, n_other = None, None, 0
    if others is not None and len(others):
        other_drops = masked_drop(
            model,
            others,
            mask,
            class_index,
            original=other_scores,
            fill=fill,
            batch_size=batch_size,
        )
        n_other = len(others)
        passes += n_other
        other_drop = float(other_drops.mean())
        p_other = _permutation_p(
            _mean_difference, (drops, other_drops), "independent", resamples, seed + 1
        )
    flip_rate, n_foreign = None, 0
    if foreign is not None and len(foreign):
        flips = transplant(model, members, foreign, mask, class_index, batch_size)
        n_foreign = len(foreign)
        passes += n_foreign
        flip_rate = float(flips.mean())
    interval = stats.bootstrap(
        (drops,),
        np.mean,
        n_resamples=resamples,
        confidence_level=0.95,
        rng=rng,
        method="percentile",
    ).confidence_interval
    pool = members if class_images is None else np.asarray(class_images)
    if class_images is None and others is not None and len(others):
        pool = np.concatenate([members, np.asarray(others)])
    baseline = crop_similarity(pool, shifted_masks(mask, len(pool), rng, max_overlap=1.0))
    return ShortcutTest(
        drop=float(drops.mean()),
        drop_interval=(float(interval.low), float(interval.high)),
        control_drop=float(controls.mean()),
        other_images_drop=other_drop,
        transplant_flip_rate=flip_rate,
        p_value=max(p_random, p_other if p_other is not None else 0.0),
        p_random=p_random,
        p_other=p_other,
        images=n,
        other_images=n_other,
        transplants=n_foreign,
        forward_passes=passes,
        area=float(np.asarray(mask).mean()),
        fill=fill,
        position_spread=position_spread(member_peaks),
        template_similarity=crop_similarity(members, mask),
        template_baseline=baseline,
    )


def judge(test: ShortcutTest, rule: ShortcutRule = ShortcutRule()) -> tuple:
    """(suspicious, reasons): whether ``test`` meets every part of ``rule``, and for each part
    that fails (or all, when it passes) one short sentence."""
    controls = max(test.control_drop, test.other_images_drop or 0.0, 0.0)
    checks = [
        (
            test.p_value <= rule.alpha,
            f"p={test.p_value:.2g} {'<=' if test.p_value <= rule.alpha else '>'} {rule.alpha}",
        ),
        (
            test.drop > rule.min_drop and test.drop >= rule.ratio * controls,
            f"drop {test.drop:.3g} vs {rule.ratio:g} x control {controls:.3g}",
        ),
        (
            test.position_spread <= rule.max_spread,
            f"peak spread {test.position_spread:.3f} (max {rule.max_spread:g})",
        ),
        (
            test.template_similarity >= rule.min_similarity
            and test.template_similarity - test.template_baseline >= rule.min_similarity_gain,
            f"patch similarity {test.template_similarity:.2f} vs random crops "
            f"{test.template_baseline:.2f} (needs >= {rule.min_similarity:g} and "
            f"+{rule.min_similarity_gain:g})",
        ),
    ]
    suspicious = all(ok for ok, _ in checks)
    reasons = tuple(text for ok, text in checks if suspicious or not ok)
    return suspicious, reasons
