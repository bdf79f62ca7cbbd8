"""The evaluation runner: the metrics of ``gradcam.evaluation`` for several methods on one image
set, as a record (``gradcam.evaluation.results``) that ``gradcam.evaluation.report`` writes.

- ``evaluate``: deletion / insertion curves and AUC under a ``PerturbationProtocol`` (Petsiuk et
  al. 2018, RISE), average drop / increase in confidence (Chattopadhay et al. 2018, Grad-CAM++)
  and, given object masks, the pointing game (Zhang et al. 2016) and energy in box ->
  ``EvaluationResult``; ``report.write_report`` writes per_image.csv, summary.csv, summary.json,
  summary.md and curves.png from it.
- ``localize``: the weakly-supervised localisation and pointing game of the CAM / Grad-CAM papers
  (Zhou et al. 2016; Selvaraju et al. 2017) on VOC-boxed images -> ``LocalizationResult``;
  ``report.write_localization_report`` writes localization.json and localization.md.

``gradcam evaluate`` parses its flags and calls these; so does
scripts/reproduce_gradcam_table1.py (``localize``).
"""

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional, Union

import numpy as np

from gradcam.arrays import frame_shape
from gradcam.errors import UserError
from gradcam.evaluation.box_evaluation import BoxedImage, localize_method, method_result
from gradcam.evaluation.confidence import average_drop_increase
from gradcam.evaluation.localization import TOLERANCE, resize_whole
from gradcam.evaluation.perturbation import probability_fn
from gradcam.evaluation.pointing import box_mask, pointing_game
from gradcam.evaluation.protocols import (
    DEFAULT,
    LocalizationProtocol,
    PerturbationProtocol,
    protocol_curves,
)
from gradcam.evaluation.provenance import provenance
from gradcam.evaluation.results import (
    BOX_METRICS,
    CURVES,
    METRICS,
    EvaluationResult,
    LocalizationResult,
    MethodScores,
    Progress,
)
from gradcam.explanation import explain
from gradcam.images import load_image
from gradcam.methods import get_method


def input_side(model):
    """The network input's size as the reports record it: S of S x S, else [H, W]."""
    height, width = model.input_size
    return height if height == width else [height, width]


def read_json_boxes(path, images: Sequence, size) -> list[np.ndarray]:
    """Object masks (bool, of the network input's ``size``: S for S x S, or (H, W)) per image
    from a JSON box file ``{image file name: [[top, left, bottom, right], ...]}`` in
    network-input pixels; every image needs a box."""
    try:
        boxes = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{{argument}} {path}: {exc}", "boxes") from None
    if not isinstance(boxes, dict):
        raise UserError(
            f"{{argument}} {path}: expected a JSON object {{image file name: boxes}}", "boxes"
        )
    masks = []
    for image in images:
        entry = boxes.get(Path(image).name, boxes.get(str(image)))
        if not entry:
            raise UserError(f"{{argument}} {path}: no box for {Path(image).name}", "boxes")
        shape = frame_shape(size)  # the model's (H, W) frame
        mask = np.zeros(shape, bool)
        for box in entry:
            if len(box) != 4:
                raise UserError(
                    f"{{argument}} {path}: a box is [top, left, bottom, right], got {box}",
                    "boxes",
                )
            mask |= box_mask(shape, box)
        if not mask.any():
            raise UserError(
                f"{{argument}} {path}: the boxes of {Path(image).name} are empty", "boxes"
            )
        masks.append(mask)
    return masks


def protocol_images(model, photos, protocol: PerturbationProtocol, central_fraction=None):
    """The N x H x W x 3 images the network sees under a protocol's image geometry."""
    if protocol.image_geometry == "whole":
        return np.stack([resize_whole(p, model.input_size) for p in photos])
    return np.stack([model.prepare(p, central_fraction) for p in photos])


def protocol_curve_set(model, images, maps, targets, protocol, batch_size=32):
    """Deletion/insertion curves [N, points] and AUCs [N] of each (image, map, target) under a
    ``PerturbationProtocol``; the score is the target's softmax probability."""
    per_image = [
        protocol_curves(
            probability_fn(model, target, batch_size), image, saliency, protocol, batch_size
        )
        for image, saliency, target in zip(images, maps, targets)
    ]
    return {
        key: np.stack([np.asarray(c[key]) for c in per_image])
        for key in ("deletion_curve", "insertion_curve", "deletion_auc", "insertion_auc")
    }


def evaluate_method(
    model,
    method: str,
    images,
    targets,
    *,
    protocol: PerturbationProtocol = DEFAULT,
    options: Optional[dict] = None,
    layer: Optional[str] = None,
    batch_size: int = 32,
    masks: Optional[Sequence[np.ndarray]] = None,
    tolerance: float = TOLERANCE,
):
    """Per-image metric values {metric: [N]} and the curves of one method on network-input
    ``images`` (N x H x W x 3) and their ``targets``; with ``masks`` also the pointing game and
    energy in box."""
    maps = explain(
        model, images, targets, method, layer=layer, batch_size=batch_size, **(options or {})
    ).map
    curves = protocol_curve_set(model, images, maps, targets, protocol, batch_size)
    confidence = average_drop_increase(model, images, maps, targets, batch_size)
    values = {
        "deletion_auc": curves["deletion_auc"],
        "insertion_auc": curves["insertion_auc"],
        "average_drop": 100.0 * confidence["drop"],
        "increase_in_confidence": 100.0 * confidence["increase"].astype(float),
    }
    if masks is not None:
        game = pointing_game(maps, masks, tolerance)
        values["pointing_hit"] = 100.0 * game["hit"].astype(float)
        values["energy_in_box"] = game["energy"]
    return values, curves


def _photos_and_names(images, names):
    """Decoded photos and their names from paths or RGB uint8 photos."""
    photos = [
        load_image(image) if isinstance(image, (str, os.PathLike)) else image for image in images
    ]
    if names is None:
        names = [
            str(image) if isinstance(image, (str, os.PathLike)) else f"image {i}"
            for i, image in enumerate(images)
        ]
    if len(names) != len(photos):
        raise UserError(f"{len(names)} names for {len(photos)} images", "names")
    return photos, [str(n) for n in names]


def _method_names(methods):
    names = [methods] if isinstance(methods, str) else list(methods)
    return [get_method(name).name for name in names]


def evaluate(
    model,
    images: Sequence,
    methods: Union[str, Sequence[str]],
    protocol: PerturbationProtocol = DEFAULT,
    *,
    target=None,
    options: Optional[Mapping[str, dict]] = None,
    layer: Optional[str] = None,
    batch_size: int = 32,
    central_fraction: Optional[float] = None,
    masks: Optional[Sequence[np.ndarray]] = None,
    boxes: Optional[str] = None,
    tolerance: float = TOLERANCE,
    names: Optional[Sequence[str]] = None,
    provenance_record: Optional[dict] = None,
    progress: Optional[Progress] = None,
) -> EvaluationResult:
    """Deletion / insertion, confidence drop and (with ``masks``) pointing game of each method.

    Args:
        model: a ``gradcam.Model``.
        images: paths or RGB uint8 photos; each is turned into the image the network sees under
            the protocol's image geometry (the model's crop, or the whole image resized).
        methods: registered method names.
        protocol: a ``PerturbationProtocol`` (gradcam.evaluation.protocols; default ``DEFAULT``).
        target: a class (name or index) explained and scored on every image; None: each
            image's top class.
        options: {method name: its options}; a method not in it runs with its defaults.
        layer, batch_size: as for ``gradcam.explain``.
        central_fraction: the crop of the model's preprocessing (protocols with geometry
            "model").
        masks: per image an H x W bool object mask (``read_json_boxes``) for the pointing game.
        boxes: where the masks came from, for the report.
        tolerance: the pointing-game tolerance in network-input pixels.
        names: the image names for the report (default: the paths, or "image i").
        provenance_record: the record the report starts with (default:
            ``provenance(model.source, 0)``).
        progress: called with (method, N, N) when a method is done.

    Returns:
        An ``EvaluationResult``.
    """
    photos, names = _photos_and_names(images, names)
    methods = _method_names(methods)
    options = dict(options or {})
    batch = protocol_images(model, photos, protocol, central_fraction)
    targets = (
        np.full(len(batch), model.class_index(target))
        if target is not None
        else model.predict(batch, batch_size).argmax(1)
    )
    metrics = METRICS + (BOX_METRICS if masks is not None else ())
    scores = {}
    for method in methods:
        values, curves = evaluate_method(
            model,
            method,
            batch,
            targets,
            protocol=protocol,
            options=options.get(method, {}),
            layer=layer,
            batch_size=batch_size,
            masks=masks,
            tolerance=tolerance,
        )
        scores[method] = MethodScores(
            options=options.get(method, {}),
            values=values,
            mean_curves={key: curves[key].mean(0) for key in CURVES},
        )
        if progress is not None:
            progress(method, len(batch), len(batch))
    return EvaluationResult(
        protocol=protocol,
        model=model.name,
        image_size=input_side(model),
        layer=layer or model.default_layer,
        images=names,
        targets=[int(t) for t in targets],
        labels=[model.label(t) for t in targets],
        metrics=metrics,
        methods=scores,
        boxes=None if masks is None else (None if boxes is None else str(boxes)),
        tolerance=None if masks is None else tolerance,
        provenance=provenance(model.source, 0) if provenance_record is None else provenance_record,
    )


def localize(
    model,
    items: Sequence[BoxedImage],
    methods: Union[str, Sequence[str]],
    protocol: LocalizationProtocol = LocalizationProtocol(),
    *,
    options: Optional[Mapping[str, dict]] = None,
    layer: Optional[str] = None,
    batch_size: int = 32,
    boxes: str = "",
    provenance_record: Optional[dict] = None,
    progress: Optional[Progress] = None,
) -> LocalizationResult:
    """The CAM / Grad-CAM localisation protocol of each method on a VOC-boxed image set.

    Args:
        model: a ``gradcam.Model``.
        items: the box set (``gradcam.evaluation.box_evaluation.read_box_set``).
        methods: registered method names.
        protocol: threshold and pointing tolerance (the rest of the protocol is fixed).
        options: {method name: its options}; a method not in it runs with its defaults.
        layer, batch_size: as for ``gradcam.explain`` (images are read ``batch_size`` at a time).
        boxes: the folder of box files, for the report.
        provenance_record: the record the report starts with (default:
            ``provenance(model.source, 0)``).
        progress: called with (method, images done, images in all) after each chunk.

    Returns:
        A ``LocalizationResult``.
    """
    options = dict(options or {})
    results = {}
    for method in _method_names(methods):
        records = localize_method(
            model,
            method,
            items,
            protocol,
            layer=layer,
            batch_size=batch_size,
            options=options.get(method, {}),
            progress=None if progress is None else _for_method(progress, method),
        )
        results[method] = {
            "options": options.get(method, {}),
            **method_result(records, model.labels),
        }
    return LocalizationResult(
        protocol=protocol,
        model=model.name,
        image_size=input_side(model),
        layer=layer or model.default_layer,
        boxes=str(boxes),
        images=len(items),
        methods=results,
        provenance=provenance(model.source, 0) if provenance_record is None else provenance_record,
    )


def _for_method(progress, method):
    return lambda done, total: progress(method, done, total)
