"""Weakly-supervised localisation and the pointing game on a user's own box-annotated images,
as evaluated in the CAM and Grad-CAM papers and by Zhang et al.

- CAM: Zhou et al. 2016, "Learning Deep Features for Discriminative Localization", CVPR.
- Grad-CAM: Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
  Gradient-based Localization", ICCV (Sec. 4.1, Table 1).
- Pointing game: Zhang et al. 2016, "Top-down Neural Attention by Excitation Backprop", ECCV.
- Scoring: the ILSVRC localisation rule (Russakovsky et al. 2015): a box is right when its IoU
  with a ground-truth box of the class is at least 0.5.

Protocol. The whole image is resized to the network input (no crop, ``resize_whole``); the map
for a class is upsampled to the original H x W (bilinear, ``upsample_map``) and binarised at
``threshold`` (15%) of its maximum: M >= threshold * max(M). The predicted box is the bounding box
of the largest connected component of that mask (``box_from_map``).

Connectivity. Components are 8-connected (diagonal neighbours join), as in the CAM reference
code, which boxes the contours OpenCV's ``findContours`` traces on the thresholded map (an outer
contour there follows 8-connected pixels) and as MATLAB's ``bwlabel`` default. The largest
component is the one with the most pixels; between equally large ones, the first in raster order
of its first pixel (scipy.ndimage.label numbers components in that order).

Boxes are ``Box(xmin, ymin, xmax, ymax)``, 0-based and inclusive (gradcam.evaluation.boxes), and
IoU counts pixels as the ILSVRC evaluation code does: area = (xmax - xmin + 1)(ymax - ymin + 1),
IoU = |A n B| / (|A| + |B| - |A n B|).

Figures, per (image, ground-truth class) record, image weights as in the ILSVRC code (each image
counts once, shared equally among its ground-truth classes):
- ``gt_known_loc_accuracy``: the box of the map explaining the ground-truth class is right.
- ``top1_loc_error``: 1 - fraction where the top-1 class is the ground truth AND its box is right.
- ``top5_loc_error``: 1 - fraction where the ground truth is among the top-5 classes AND the box
  for the ground-truth class is right.
- ``top1_cls_error`` / ``top5_cls_error``: classification alone (the ground truth is not the
  top-1 / not among the top-5 classes), a check of the model and the whole-image input;
- ``pointing_game_accuracy``: the map's maximum (at original size) lies within ``tolerance``
  (15) pixels of a ground-truth box of the class: Euclidean distance from that pixel to the
  nearest box pixel <= tolerance.

Ties of the maximum: the first maximal pixel in raster order (row by row) is the point, as
``numpy.argmax`` returns it; that is what the pointing-game reference code of Zhang et al. does
("naively take argmax"; its alternative, the centre of the maxima, is switched off), and TorchRay's
re-implementation takes ``argmax`` as well.

Empty maps: a map with no positive value (all zero, say) has no box (the record is not correct)
and no maximum to point with (a miss). A map with NaN or infinite values is an error.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image
from scipy import ndimage

from gradcam.arrays import frame_shape
from gradcam.evaluation.boxes import Box, box_to_voc

THRESHOLD = 0.15  # Grad-CAM Sec. 4.1: 15% of the maximum (CAM used 20%)
IOU_THRESHOLD = 0.5  # ILSVRC localisation criterion
TOLERANCE = 15  # pointing game, pixels at original image size
EIGHT_CONNECTED = np.ones((3, 3), bool)


def resize_whole(photo: np.ndarray, size) -> np.ndarray:
    """The whole H x W x 3 uint8 image resized to size x size, or to ``size`` = (height, width)
    (bilinear, no crop), uint8."""
    photo = np.asarray(photo, np.uint8)
    if photo.ndim != 3 or photo.shape[-1] < 3:
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {photo.shape}")
    photo = np.ascontiguousarray(photo[..., :3])
    shape = frame_shape(size)[::-1]
    return np.asarray(Image.fromarray(photo).resize(shape, Image.BILINEAR), np.uint8)


def upsample_map(saliency: np.ndarray, height: int, width: int) -> np.ndarray:
    """A map [S, S] (or any h x w) resized bilinearly to height x width, float32."""
    image = Image.fromarray(np.asarray(saliency, np.float32))
    return np.asarray(image.resize((width, height), Image.BILINEAR), np.float32)


def _check_finite(saliency) -> np.ndarray:
    saliency = np.asarray(saliency, np.float64)
    if saliency.ndim != 2:
        raise ValueError(f"a map is 2-D (H x W), got shape {saliency.shape}")
    if not np.isfinite(saliency).all():
        raise ValueError("the map has NaN or infinite values")
    return saliency


def is_empty(saliency: np.ndarray) -> bool:
    """True when the map has no positive value."""
    return not bool((_check_finite(saliency) > 0).any())


def box_from_map(saliency: np.ndarray, threshold: float = THRESHOLD) -> Optional[Box]:
    """Bounding box of the largest 8-connected component of saliency >= threshold * max, or None
    for an empty map.

    Args:
        saliency: H x W map (at the original image size for the protocol).
        threshold: fraction of the map's maximum that a pixel must reach.

    Returns:
        Box (0-based, inclusive) or None.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold is a fraction of the maximum in [0, 1], got {threshold}")
    saliency = _check_finite(saliency)
    if is_empty(saliency):
        return None
    labels, count = ndimage.label(saliency >= threshold * saliency.max(), EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    rows, cols = ndimage.find_objects(labels)[int(np.argmax(sizes))]
    return Box(cols.start, rows.start, cols.stop - 1, rows.stop - 1)


def box_area(box: Box) -> int:
    """Pixels in an inclusive box (0 if inverted)."""
    return max(0, box[2] - box[0] + 1) * max(0, box[3] - box[1] + 1)


def iou(box_a: Box, box_b: Box) -> float:
    """Intersection over union of two inclusive pixel boxes (ILSVRC convention, + 1 widths)."""
    inter = box_area(
        Box(
            max(box_a[0], box_b[0]),
            max(box_a[1], box_b[1]),
            min(box_a[2], box_b[2]),
            min(box_a[3], box_b[3]),
        )
    )
    union = box_area(box_a) + box_area(box_b) - inter
    return inter / union if union > 0 else 0.0


def best_iou(box: Optional[Box], truths: Sequence[Box]) -> float:
    """Largest IoU of ``box`` with any ground-truth box; 0 when there is no box."""
    return max((iou(box, t) for t in truths), default=0.0) if box is not None else 0.0


def peak(saliency: np.ndarray) -> Optional[tuple[int, int]]:
    """(row, column) of the map's maximum, the first in raster order on ties; None when empty."""
    saliency = _check_finite(saliency)
    if is_empty(saliency):
        return None
    row, col = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
    return int(row), int(col)


def distance_to_box(point: tuple[int, int], box: Box) -> float:
    """Euclidean distance in pixels from (row, column) to the nearest pixel of the box."""
    row, col = point
    dx = max(box.xmin - col, 0, col - box.xmax)
    dy = max(box.ymin - row, 0, row - box.ymax)
    return float(np.hypot(dx, dy))


def pointing_hit(
    point: Optional[tuple[int, int]], truths: Sequence[Box], tolerance: float = TOLERANCE
) -> bool:
    """True when the point lies within ``tolerance`` pixels of one of the boxes."""
    return point is not None and any(distance_to_box(point, t) <= tolerance for t in truths)


@dataclass(frozen=True)
class LocalizationRecord:
    """Localisation of one ground-truth class in one image by one map."""

    image: str
    target: int
    predicted_box: Optional[Box]
    iou: float
    box_correct: bool
    point: Optional[tuple[int, int]]
    pointing_hit: bool
    top1: bool
    top5: bool

    def as_dict(self) -> dict:
        """JSON-ready record; boxes in the VOC 1-based inclusive convention of the input files,
        the point as (row, column) 0-based."""
        return {
            "image": self.image,
            "class": self.target,
            "predicted_box_voc": None
            if self.predicted_box is None
            else box_to_voc(self.predicted_box),
            "iou": self.iou,
            "box_correct": self.box_correct,
            "point": None if self.point is None else list(self.point),
            "pointing_hit": self.pointing_hit,
            "top1": self.top1,
            "top5": self.top5,
        }


def localize(
    image: str,
    target: int,
    saliency: np.ndarray,
    truths: Sequence[Box],
    top5: Sequence[int],
    threshold: float = THRESHOLD,
    tolerance: float = TOLERANCE,
    iou_threshold: float = IOU_THRESHOLD,
) -> LocalizationRecord:
    """Record of the map explaining class ``target`` against that class's ground-truth boxes.

    Args:
        image: the image's name, kept in the record.
        target: ground-truth class index the map explains.
        saliency: the map at the original image size (see ``upsample_map``).
        truths: ground-truth boxes of class ``target`` in that image (at least one).
        top5: the model's five best classes, best first (fewer is allowed).
        threshold, tolerance, iou_threshold: the protocol's parameters.
    """
    if not truths:
        raise ValueError(f"{image}: no ground-truth box of class {target}")
    box = box_from_map(saliency, threshold)
    overlap = best_iou(box, truths)
    point = peak(saliency)
    correct = box is not None and overlap >= iou_threshold
    top5 = [int(c) for c in top5][:5]
    return LocalizationRecord(
        image=image,
        target=int(target),
        predicted_box=box,
        iou=overlap,
        box_correct=correct,
        point=point,
        pointing_hit=pointing_hit(point, truths, tolerance),
        top1=bool(top5) and top5[0] == int(target),
        top5=int(target) in top5,
    )


def _image_means(records: Iterable[LocalizationRecord], indicator) -> np.ndarray:
    """Per image, the mean of ``indicator(record)`` over its records (image order of first
    appearance)."""
    per_image: dict[str, list[float]] = {}
    for record in records:
        per_image.setdefault(record.image, []).append(float(indicator(record)))
    return np.array([np.mean(v) for v in per_image.values()])


def aggregate(records: Sequence[LocalizationRecord]) -> dict:
    """The four figures (fractions in [0, 1]) over records, each image weighted once.

    Returns:
        dict with ``gt_known_loc_accuracy``, ``top1_loc_error``, ``top5_loc_error``,
        ``pointing_game_accuracy``, ``pointing_game_class_mean_accuracy`` (Zhang et al.'s
        per-class average), ``top1_cls_error`` and ``top5_cls_error`` (classification alone, same
        weighting: a check of the model and its input), ``images`` and ``records`` (counts).
    """
    records = list(records)
    if not records:
        raise ValueError("no localisation record to aggregate")

    def mean(indicator):
        return float(_image_means(records, indicator).mean())

    return {
        "gt_known_loc_accuracy": mean(lambda r: r.box_correct),
        "top1_loc_error": 1.0 - mean(lambda r: r.top1 and r.box_correct),
        "top5_loc_error": 1.0 - mean(lambda r: r.top5 and r.box_correct),
        "pointing_game_accuracy": mean(lambda r: r.pointing_hit),
        "top1_cls_error": 1.0 - mean(lambda r: r.top1),
        "top5_cls_error": 1.0 - mean(lambda r: r.top5),
        "pointing_game_class_mean_accuracy": class_mean(records, lambda r: r.pointing_hit),
        "images": len({r.image for r in records}),
        "records": len(records),
    }


def class_mean(records: Sequence[LocalizationRecord], indicator) -> float:
    """Mean over classes of the per-class mean of ``indicator``: how Zhang et al. report the
    pointing game (accuracy per category, then averaged)."""
    per_class: dict[int, list[float]] = {}
    for record in records:
        per_class.setdefault(record.target, []).append(float(indicator(record)))
    return float(np.mean([np.mean(v) for v in per_class.values()]))
