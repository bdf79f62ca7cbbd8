"""The localisation protocol of the CAM and Grad-CAM papers run with a model over a user's own
box-annotated images (Zhou et al. 2016, "Learning Deep Features for Discriminative Localization";
Selvaraju et al. 2017, "Grad-CAM", Sec. 4.1; pointing game: Zhang et al. 2016, "Top-down Neural
Attention by Excitation Backprop").

For each image and each ground-truth class of its VOC XML file (gradcam.evaluation.boxes):

1. the whole image is resized to the network input S x S (no crop, ``localization.resize_whole``)
   and explained for that class through ``gradcam.explain``;
2. the method's evidence (``postprocess.evidence`` at its own resolution), before any
   normalisation, is upsampled bilinearly to the original H x W: for a "positive" display
   max(raw, 0) straight from its own resolution (the feature map, or S x S for occlusion, XRAI
   and RISE); for a "magnitude" display the sum of |attribution| over colours, clipped at its
   99th percentile, at S x S. A map the library flags
   degenerate (a constant image, or a map without signal) counts as empty;
3. ``localization.localize`` boxes it (largest 8-connected component of M >= threshold x max M),
   scores it against the class's boxes (IoU >= 0.5) and points with its maximum (tolerance in
   original pixels); the top-1 / top-5 classes come from the logits of the same S x S input.

``localization.aggregate`` turns the records into the four figures. Images are read and explained
``chunk`` at a time, so a whole validation set never sits in memory.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from gradcam import postprocess
from gradcam.evaluation.boxes import Box, boxes_by_class, read_voc_dir
from gradcam.evaluation.localization import (
    LocalizationRecord,
    aggregate,
    localize,
    resize_whole,
    upsample_map,
)
from gradcam.evaluation.protocols import LocalizationProtocol
from gradcam.explanation import explain
from gradcam.images import load_image
from gradcam.labels import short_label
from gradcam.methods import get_method

TOP_K = 5


@dataclass(frozen=True)
class BoxedImage:
    """An image file and its ground-truth boxes by class index (model label space)."""

    path: str
    truths: dict[int, list[Box]]


def read_box_set(images: Sequence, directory, labels: Sequence[str]) -> list[BoxedImage]:
    """Each image with the boxes of ``directory/<image stem>.xml``, classes resolved in ``labels``
    (UserError for a missing, malformed or mismatching file)."""
    annotations = read_voc_dir(directory, images, labels)
    return [BoxedImage(str(path), boxes_by_class(a)) for path, a in zip(images, annotations)]


def original_size_maps(
    model,
    method: str,
    photos: Sequence[np.ndarray],
    targets: Sequence[int],
    *,
    layer: Optional[str] = None,
    batch_size: int = 32,
    options: Optional[dict] = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Explain each (photo, target) row on the whole photo resized to the network input.

    Args:
        model: a ``gradcam.Model``.
        method: a registered method name.
        photos: RGB uint8 H x W x 3 photos, one per row (repeat a photo for several classes).
        targets: class index of each row.
        layer, batch_size, options: as for ``gradcam.explain``.

    Returns:
        (maps, logits): per row the H x W float32 evidence map at its photo's size (all zero when
        the library flags the row degenerate), and the logits [rows, C] of the S x S inputs.
    """
    batch = np.stack([resize_whole(p, model.input_size) for p in photos])
    explanation = explain(
        model,
        batch,
        [int(t) for t in targets],
        method,
        layer=layer,
        batch_size=batch_size,
        **(options or {}),
    )
    display = get_method(method).display
    maps = []
    for i, photo in enumerate(photos):
        height, width = photo.shape[:2]
        if explanation.degenerate[i]:
            maps.append(np.zeros((height, width), np.float32))
        else:
            small = postprocess.evidence(explanation.raw[i : i + 1], display)[0]
            maps.append(upsample_map(small, height, width))
    return maps, np.asarray(explanation.logits)


def top_class_indices(logits: np.ndarray, k: int = TOP_K) -> list[int]:
    """The k classes of highest logit, best first."""
    return [int(c) for c in np.argsort(-np.asarray(logits), kind="stable")[:k]]


def localize_method(
    model,
    method: str,
    items: Sequence[BoxedImage],
    protocol: LocalizationProtocol = LocalizationProtocol(),
    *,
    layer: Optional[str] = None,
    batch_size: int = 32,
    options: Optional[dict] = None,
    chunk: Optional[int] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> list[LocalizationRecord]:
    """Localisation records of one method: one per (image, ground-truth class).

    Args:
        model: a ``gradcam.Model``.
        method: a registered method name.
        items: the box set (``read_box_set``).
        protocol: threshold and pointing tolerance (the rest of the protocol is fixed).
        layer, batch_size, options: as for ``gradcam.explain``.
        chunk: images read and explained together (default: ``batch_size``).
        progress: called with (images done, images in all) after each chunk.

    Returns:
        The records, in image order and, within an image, in class order of first appearance.
    """
    chunk = max(1, int(chunk or batch_size))
    records = []
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        photos = [load_image(item.path) for item in part]
        rows = [(j, target) for j, item in enumerate(part) for target in item.truths]
        maps, logits = original_size_maps(
            model,
            method,
            [photos[j] for j, _ in rows],
            [t for _, t in rows],
            layer=layer,
            batch_size=batch_size,
            options=options,
        )
        for (j, target), saliency, row_logits in zip(rows, maps, logits):
            records.append(
                localize(
                    part[j].path,
                    target,
                    saliency,
                    part[j].truths[target],
                    top_class_indices(row_logits),
                    protocol.threshold,
                    protocol.pointing_tolerance,
                    protocol.iou_threshold,
                )
            )
        if progress is not None:
            progress(min(start + chunk, len(items)), len(items))
    return records


def method_result(records: Sequence[LocalizationRecord], labels: Sequence[str]) -> dict:
    """{"figures": the four figures and counts, "records": JSON-ready per-image records with the
    class name}."""
    rows = []
    for record in records:
        row = record.as_dict()
        row["label"] = short_label(labels, record.target)
        rows.append(row)
    return {"figures": aggregate(records), "records": rows}


FIGURES = (
    ("gt_known_loc_accuracy", "GT-known loc. accuracy % (higher better)"),
    ("top1_loc_error", "top-1 loc. error % (lower better)"),
    ("top5_loc_error", "top-5 loc. error % (lower better)"),
    ("pointing_game_accuracy", "pointing game % (higher better)"),
)


def figures_table(results: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a method x figure table in percent, two decimals."""
    header = ["method"] + [title for _, title in FIGURES] + ["images"]
    rows = [
        [name]
        + [f"{100 * result['figures'][key]:.2f}" for key, _ in FIGURES]
        + [str(result["figures"]["images"])]
        for name, result in results.items()
    ]
    return header, rows
