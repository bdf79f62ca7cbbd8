"""The records of an evaluation run, built by keyword: what ``gradcam.evaluation.runner``
measured and ``gradcam.evaluation.report`` writes."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from gradcam.evaluation.protocols import LocalizationProtocol, PerturbationProtocol

# (key, title) of the per-image metrics; BOX_METRICS join them when object masks are given.
METRICS = (
    ("deletion_auc", "deletion AUC (lower better)"),
    ("insertion_auc", "insertion AUC (higher better)"),
    ("average_drop", "average drop % (lower better)"),
    ("increase_in_confidence", "increase in confidence % (higher better)"),
)
BOX_METRICS = (
    ("pointing_hit", "pointing game % (higher better)"),
    ("energy_in_box", "energy in box (higher better)"),
)
CURVES = ("deletion_curve", "insertion_curve")

# progress(method, images done, images in all)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, kw_only=True)
class MethodScores:
    """One method's deletion / insertion and confidence scores on an image set.

    Attributes:
        options: the method options it ran with.
        values: {metric key: [N] per-image values}, the keys of the result's ``metrics``.
        mean_curves: {"deletion_curve", "insertion_curve": the mean curve over the images}.
    """

    options: dict
    values: dict
    mean_curves: dict


@dataclass(frozen=True, kw_only=True)
class EvaluationResult:
    """What ``evaluate`` measured, and everything its report records about how.

    Attributes:
        protocol: the deletion / insertion protocol.
        model, image_size, layer: the model's name, input size and the layer of the maps.
        images: the image names, in order.
        targets: the explained and scored class of each image (model label space).
        labels: the short name of each target.
        metrics: (key, title) of every metric measured.
        methods: {method name: MethodScores}, in the order run.
        boxes: where the object masks came from (None: no pointing game).
        tolerance: the pointing-game tolerance in network-input pixels (None without masks).
        provenance: the provenance record (gradcam.evaluation.provenance.provenance).
    """

    protocol: PerturbationProtocol
    model: str
    image_size: object  # S of an S x S input, or [H, W]
    layer: str
    images: list
    targets: list
    labels: list
    metrics: tuple
    methods: dict
    boxes: Optional[str] = None
    tolerance: Optional[float] = None
    provenance: dict = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LocalizationResult:
    """What ``localize`` measured.

    Attributes:
        protocol: the localisation protocol (threshold, tolerance).
        model, image_size, layer: as for ``EvaluationResult``.
        boxes: the folder of box files.
        images: how many images were evaluated.
        methods: {method name: {"options", "figures", "records"}} (``method_result``).
        provenance: the provenance record.
    """

    protocol: LocalizationProtocol
    model: str
    image_size: object  # S of an S x S input, or [H, W]
    layer: str
    boxes: str
    images: int
    methods: dict
    provenance: dict = field(default_factory=dict)
