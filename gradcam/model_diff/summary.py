"""A diff's summary figures, per method (over all images, and per class), and which images
changed beyond the noise floor.

Per method, over the images compared (``SUMMARY_FIGURES``, the names ``--fail-if`` reads):

- ``median_iou``, ``median_spearman``, ``median_peak_shift``, ``median_centroid_shift``: medians of
  the A-to-B figures (``gradcam.model_diff.metrics``); ``floor_iou`` ... ``floor_centroid_shift``: the
  same medians of A against A (the noise floor).
- ``iou_drift``, ``spearman_drift``: (1 - median) over (1 - floor median), the loss of overlap or
  of rank agreement as a multiple of the floor's (the floor's loss counted as at least 0.01);
  ``peak_drift``, ``centroid_drift``: median shift over the floor's median shift (at least one
  pixel). About 1 means "as much as noise moves A's own map"; 5 means five times that.
- ``changed_share``: the share of images that changed. An image changed for a method when its
  IoU is below the 5th percentile of the method's floor IoUs (at most 0.99) or its centroid moved
  more than the 95th percentile of the floor's centroid shifts plus one pixel.
- ``mean_probability_change``: mean of B's minus A's probability of the explained class.
- ``top1_agreement``: the share of images whose top class is the same for A and B.
- ``images``: how many images.

An image is flagged when its methods disagree about whether it changed.
"""

from dataclasses import replace

import numpy as np

FIGURES = ("iou", "spearman", "peak_shift", "centroid_shift")
SUMMARY_FIGURES = (
    *(f"median_{f}" for f in FIGURES),
    *(f"floor_{f}" for f in FIGURES),
    "iou_drift",
    "spearman_drift",
    "peak_drift",
    "centroid_drift",
    "changed_share",
    "mean_probability_change",
    "top1_agreement",
    "images",
)
MIN_LOSS, MIN_SHIFT = 0.01, 1.0


def thresholds(images, method) -> dict:
    """The floor's limits of one method: {"iou": below this an image changed, "centroid_shift":
    above this it changed}."""
    ious = np.array([im.floors[method].iou for im in images])
    shifts = np.array([im.floors[method].centroid_shift for im in images])
    return {
        "iou": min(float(np.percentile(ious, 5)), 1.0 - MIN_LOSS),
        "centroid_shift": float(np.percentile(shifts, 95)) + MIN_SHIFT,
    }


def mark_changes(images, methods) -> list:
    """``images`` with ``changed`` (per method) and ``flag`` (the methods disagree) filled in."""
    if not images:
        return []
    limits = {m: thresholds(images, m) for m in methods}
    marked = []
    for im in images:
        changed = {
            m: bool(
                im.changes[m].iou < limits[m]["iou"]
                or im.changes[m].centroid_shift > limits[m]["centroid_shift"]
            )
            for m in methods
        }
        marked.append(replace(im, changed=changed, flag=len(set(changed.values())) > 1))
    return marked


def summarise(images, method) -> dict:
    """{figure: value} of ``SUMMARY_FIGURES`` for one method over ``images`` (values None when
    there are no images)."""
    if not images:
        return {name: (0 if name == "images" else None) for name in SUMMARY_FIGURES}
    out = {}
    for f in FIGURES:
        out[f"median_{f}"] = float(np.median([getattr(im.changes[method], f) for im in images]))
        out[f"floor_{f}"] = float(np.median([getattr(im.floors[method], f) for im in images]))
    out["iou_drift"] = (1 - out["median_iou"]) / max(1 - out["floor_iou"], MIN_LOSS)
    out["spearman_drift"] = (1 - out["median_spearman"]) / max(1 - out["floor_spearman"], MIN_LOSS)
    out["peak_drift"] = out["median_peak_shift"] / max(out["floor_peak_shift"], MIN_SHIFT)
    out["centroid_drift"] = out["median_centroid_shift"] / max(
        out["floor_centroid_shift"], MIN_SHIFT
    )
    out["changed_share"] = float(np.mean([im.changed.get(method, False) for im in images]))
    out["mean_probability_change"] = float(
        np.mean([im.probability_b - im.probability_a for im in images])
    )
    out["top1_agreement"] = float(np.mean([im.top1_a == im.top1_b for im in images]))
    out["images"] = len(images)
    return {name: out[name] for name in SUMMARY_FIGURES}


def change_score(image, method) -> float:
    """How much one image changed for ``method``, for ranking the gallery: 1 - IoU plus
    1 - Spearman (each 0 when the maps agree, up to 1 and 2)."""
    c = image.changes[method]
    return (1.0 - c.iou) + (1.0 - c.spearman)
