"""The maps every check compares: each method's explanation of the same images and targets, as
non-negative evidence at network-input resolution.

- ``evidence``: what the library draws, before normalisation (``gradcam.postprocess.magnitude``):
  ReLU of a CAM map upsampled bilinearly, or the summed |attribution| of a pixel method (its 99th
  percentile clipped). Faithfulness, Focus and agreement rank or sum it.
- ``absolute``: |map| as Adebayo et al. 2018 compare maps under randomisation: |upsampled CAM
  map| (so a map that turned negative is still seen), summed |attribution| of a pixel method.

A method that cannot run (CAM on a network without a global-average-pooling + linear head, an
unknown layer, ...) gives its ``UserError`` in place of its maps, so the other methods go on.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from gradcam import postprocess
from gradcam.errors import UserError
from gradcam.explanation import explain, explain_many
from gradcam.methods import get_method


@dataclass(frozen=True, kw_only=True)
class MethodMaps:
    """One method's maps of N images: ``evidence`` and ``absolute`` [N, S, S] float32, the
    display ``map`` [N, S, S] in [0, 1]; or ``error`` (a one-line reason) and no maps."""

    evidence: Optional[np.ndarray] = None
    absolute: Optional[np.ndarray] = None
    map: Optional[np.ndarray] = None
    error: Optional[str] = None


def _maps(method, explanation, size):
    display = get_method(method).display
    raw = np.asarray(explanation.raw, np.float32)
    return MethodMaps(
        evidence=postprocess.evidence(raw, display, size).astype(np.float32),
        # |map| unclipped: the absolute values Adebayo et al. compare
        absolute=postprocess.evidence(raw, "magnitude", size, percentile=None),
        map=np.asarray(explanation.map, np.float32),
    )


def method_maps(
    model,
    images: np.ndarray,
    targets: np.ndarray,
    methods: Sequence[str],
    options: dict,
    *,
    layer: Optional[str] = None,
    batch_size: int = 32,
) -> dict:
    """{method: MethodMaps} of ``images`` (N x H x W x 3) for ``targets`` (one class per image).

    One-pass methods given no options share one run of the network (``explain_many``); when that
    run fails (one of them cannot run), each method runs on its own, so only the failing ones
    report an error.
    """
    images = np.asarray(images)
    targets = [int(t) for t in targets]
    size = model.input_size
    shared = [m for m in methods if get_method(m).combine is not None and not options.get(m)]
    out = {}
    if len(shared) > 1:
        try:
            many = explain_many(model, images, targets, shared, layer=layer, batch_size=batch_size)
            out = {m: _maps(m, e, size) for m, e in many.items()}
        except UserError:
            out = {}
    for method in methods:
        if method in out:
            continue
        try:
            explanation = explain(
                model,
                images,
                targets,
                method,
                layer=layer,
                batch_size=batch_size,
                **options.get(method, {}),
            )
        except UserError as exc:
            out[method] = MethodMaps(error=str(exc))
            continue
        out[method] = _maps(method, explanation, size)
    return {m: out[m] for m in methods}


def method_options(methods: Sequence[str], which: str) -> dict:
    """{method: options} for a budget's ``options``: "smoke", "budget" (registry) or "paper"
    (every method's defaults)."""
    if which == "paper":
        return {m: {} for m in methods}
    if which not in ("smoke", "budget"):
        raise ValueError(f"options must be smoke, budget or paper, got {which!r}")
    return {m: dict(getattr(get_method(m), which)) for m in methods}
