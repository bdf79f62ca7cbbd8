"""Localisation, when the user has boxes (``--boxes DIR``: Pascal VOC / ILSVRC XML files named
like the images): the weakly-supervised localisation and pointing game of the CAM and Grad-CAM
papers, as ``gradcam evaluate --boxes DIR`` runs them (``gradcam.evaluation.box_evaluation``).

Control: a centred Gaussian map (sigma a quarter of each side) scored by the same protocol on the
same boxes. Objects in photos sit near the centre, so a map is credited for localising only when
it beats the centre (the "center baseline" of Zhang et al. 2016's pointing game). Verdict: pass
when both figures (GT-known localisation accuracy, pointing game) beat the centre map's, warn
when one does, fail when neither does.
"""

import numpy as np

from gradcam.errors import UserError
from gradcam.evaluation.box_evaluation import localize_method
from gradcam.evaluation.boxes import image_size
from gradcam.evaluation.localization import aggregate, localize
from gradcam.evaluation.protocols import LocalizationProtocol

FIGURES = ("gt_known_loc_accuracy", "pointing_game_accuracy")


def centre_map(height: int, width: int) -> np.ndarray:
    rows = (np.arange(height) - (height - 1) / 2) / (height / 4)
    cols = (np.arange(width) - (width - 1) / 2) / (width / 4)
    return np.exp(-0.5 * (rows[:, None] ** 2 + cols[None] ** 2)).astype(np.float32)


def centre_figures(items, protocol) -> dict:
    """The figures of the centre map on the boxes of ``items`` (only the two of ``FIGURES`` are
    meaningful: the map has no classes)."""
    control = []
    for item in items:
        width, height = image_size(item.path)
        saliency = centre_map(height, width)
        for target, truths in item.truths.items():
            control.append(
                localize(
                    item.path,
                    target,
                    saliency,
                    truths,
                    [],
                    protocol.threshold,
                    protocol.pointing_tolerance,
                    protocol.iou_threshold,
                )
            )
    return aggregate(control)


def localization_verdict(figures, centre) -> str:
    wins = sum(figures[k] > centre[k] for k in FIGURES)
    return ("fail", "warn", "pass")[wins]


def localization_check(model, items, methods, options, *, layer=None, batch_size=32) -> dict:
    """{method: cell} of the localisation check on ``items`` (``read_box_set``)."""
    protocol = LocalizationProtocol()
    cells, centre = {}, None
    for method in methods:
        try:
            records = localize_method(
                model,
                method,
                items,
                protocol,
                layer=layer,
                batch_size=batch_size,
                options=options.get(method, {}),
            )
        except UserError as exc:
            cells[method] = {"error": str(exc), "verdict": None}
            continue
        figures = aggregate(records)
        if centre is None:
            centre = centre_figures(items, protocol)
        cells[method] = {
            **{k: figures[k] for k in FIGURES},
            "centre_control": {k: centre[k] for k in FIGURES},
            "images": figures["images"],
            "verdict": localization_verdict(figures, centre),
        }
    return cells
