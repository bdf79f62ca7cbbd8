"""Which explanation method can I trust, on my model and my images? ``trust`` measures each
method on the user's own model and data, with controls, and says what it found::

    import gradcam
    card = gradcam.trust(gradcam.Model(), "photos/", methods=["grad_cam", "guided_backprop"])
    card.verdict("grad_cam"), card.lines(), card.save("trust/")

The checks (each its own module, each citing its paper):

1. ``randomization``: cascading model-parameter randomisation (Adebayo et al. 2018) for every
   model kind, and eMPRT (Hedström et al. 2024);
2. ``faithfulness``: SRG (Blücher et al. 2024) against a random map and a blurred copy of the
   method's own map;
3. ``focus``: class sensitivity on 2 x 2 mosaics (Arias-Duart et al. 2022), with labels;
4. ``localization``: the CAM / Grad-CAM papers' localisation and pointing game, with boxes;
5. ``agreement``: rank correlation between the methods' maps.

``card`` turns them into a ``TrustCard`` (pass / warn / fail per check and method), its printed
lines, TRUST/trust.html and TRUST/trust.json. Budgets and verdict thresholds: ``protocol``.
"""

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Optional, Union

import numpy as np

from gradcam.dataset import read_labelled_folder
from gradcam.errors import UserError
from gradcam.evaluation.box_evaluation import read_box_set
from gradcam.evaluation.provenance import provenance
from gradcam.images import load_image
from gradcam.method_trust.agreement import agreement_check
from gradcam.method_trust.card import MethodCard, TrustCard, sample_overlay
from gradcam.method_trust.faithfulness import FILL, MIN_IMAGES, faithfulness_check
from gradcam.method_trust.focus import focus_check
from gradcam.method_trust.localization import localization_check
from gradcam.method_trust.maps import method_maps, method_options
from gradcam.method_trust.protocol import THRESHOLDS, Budget, get_budget
from gradcam.method_trust.randomization import randomization_check
from gradcam.methods import get_method

DEFAULT_METHODS = (
    "grad_cam",
    "grad_cam_pp",
    "xgrad_cam",
    "layer_cam",
    "gradient",
    "guided_backprop",
    "smoothgrad",
    "integrated_gradients",
)
REFERENCES = {
    "randomization": "Adebayo et al. 2018, Sanity Checks for Saliency Maps (NeurIPS)",
    "emprt": "Hedström et al. 2024, Sanity Checks Revisited (TMLR)",
    "faithfulness": "Blücher, Vielhaben & Strodthoff 2024, Decoupling Pixel Flipping and "
    "Occlusion Strategy for Consistent XAI Benchmarks (TMLR): SRG",
    "focus": "Arias-Duart et al. 2022, Focus! Rating XAI Methods and Finding Biases",
    "localization": "Zhou et al. 2016 (CAM); Selvaraju et al. 2017 (Grad-CAM); Zhang et al. "
    "2016 (pointing game)",
}

__all__ = ["trust", "TrustCard", "Budget", "DEFAULT_METHODS"]


def _spread_over_classes(labels, count, limit) -> list:
    """Indices of ``limit`` of ``count`` images: the first ones in data order, or with labels
    the first of each class, then the second of each, ... (in data order within each round), so
    that a folder sorted by class still gives Focus images of several classes."""
    if labels is None:
        return list(range(limit))
    rank = {}
    order = []
    for i, label in enumerate(labels):
        order.append((rank.get(label, 0), i))
        rank[label] = rank.get(label, 0) + 1
    return sorted(i for _, i in sorted(order)[:limit])


def _read_data(model, data, labels):
    """(network-input images uint8 N x H x W x 3, image paths or None, labels or None)."""
    if isinstance(data, (str, PathLike)):
        folder = read_labelled_folder(data, model.labels)
        paths = [str(p) for p in folder.paths]
        found = list(folder.classes) if folder.labelled else None
        labels = found if labels is None else labels
    elif isinstance(data, np.ndarray):
        paths = None
        images = np.asarray(data)
        height, width = model.input_size
        if images.ndim != 4 or images.shape[1:] != (height, width, 3):
            raise UserError(f"images must be N x {height} x {width} x 3, got {images.shape}")
        images = np.clip(images, 0, 255).astype(np.uint8)
    else:
        paths = [str(p) for p in data]
    if paths is not None:
        images = np.stack([model.prepare(load_image(p)) for p in paths]) if paths else None
    if images is None or len(images) == 0:
        raise UserError("no images given")
    if labels is not None:
        labels = [model.class_index(c) for c in labels]
        if len(labels) != len(images):
            raise UserError(f"{len(labels)} labels for {len(images)} images")
    return images, paths, labels


def trust(
    model,
    data: Union[str, PathLike, Sequence, np.ndarray],
    methods: Optional[Sequence[str]] = None,
    *,
    labels: Optional[Sequence] = None,
    boxes: Union[None, str, PathLike] = None,
    budget: Union[str, Budget] = "quick",
    seed: int = 0,
    layer: Optional[str] = None,
    batch_size: int = 32,
    out: Union[None, str, PathLike] = None,
    progress=None,
) -> TrustCard:
    """Check which explanation methods can be trusted on ``model`` and ``data``.

    Args:
        model: a ``gradcam.Model``.
        data: a folder of images (class-named subfolders give labels, ``gradcam.dataset``), a
            list of image paths, or an N x H x W x 3 array of network-input pixels.
        methods: registered method names (default: ``DEFAULT_METHODS``).
        labels: each image's true class (name or index), for Focus; default: from subfolders.
        boxes: a folder of Pascal VOC XML files named like the images (localisation).
        budget: "quick", "paper" (``gradcam.method_trust.protocol.BUDGETS``) or a ``Budget``.
        seed: seed of the randomisation, the random control and the mosaics.
        layer: the CAM family's layer (default: the model's default layer).
        batch_size: images per session run.
        out: when given, the folder the card is written to (trust.html, trust.json, maps/).
        progress: called with a line of text as the checks advance (e.g. ``print``).

    Returns:
        The ``TrustCard``. A check that cannot run for a method (too few images, a method the
        model cannot run) is reported in its cell; a check that cannot run at all (Focus without
        labels) is listed in ``TrustCard.skipped``.

    Raises:
        UserError: no images, unreadable data or boxes, an unknown method or budget.
    """
    budget = get_budget(budget)
    names = [get_method(m).name for m in (methods or DEFAULT_METHODS)]
    if len(set(names)) != len(names):
        raise UserError("a method is named twice in {argument}", "methods")
    images, paths, labels = _read_data(model, data, labels)
    if boxes is not None and paths is None:
        raise UserError(
            "{argument} needs the images as files (their boxes are named like them)", "boxes"
        )
    if budget.max_images is not None and len(images) > budget.max_images:
        keep = _spread_over_classes(labels, len(images), budget.max_images)
        images = images[keep]
        labels = labels and [labels[i] for i in keep]
        paths = paths and [paths[i] for i in keep]
    items = read_box_set(paths, boxes, model.labels) if boxes is not None else None
    say = progress or (lambda line: None)
    options = method_options(names, budget.options)
    targets = model.predict(images, batch_size).argmax(1)
    say(f"explaining {len(images)} images with {len(names)} methods")
    maps = method_maps(model, images, targets, names, options, layer=layer, batch_size=batch_size)

    rn = budget.randomization_images or len(images)
    subset = {
        m: v
        if v.error
        else type(v)(evidence=v.evidence[:rn], absolute=v.absolute[:rn], map=v.map[:rn])
        for m, v in maps.items()
    }
    say(f"randomisation: {budget.randomization_depths or 'every'} depths of the cascade")
    randomization = randomization_check(
        model,
        images[:rn],
        targets[:rn],
        subset,
        names,
        options,
        depths=budget.randomization_depths,
        seed=seed,
        layer=layer,
        batch_size=batch_size,
        progress=say,
    )
    fn = budget.faithfulness_images or len(images)
    say(f"faithfulness: SRG, {budget.srg_steps} steps")
    faithfulness = faithfulness_check(
        model,
        images[:fn],
        targets[:fn],
        {m: v if v.error else type(v)(evidence=v.evidence[:fn]) for m, v in maps.items()},
        steps=budget.srg_steps,
        seed=seed,
        batch_size=batch_size,
        progress=say,
    )
    say("focus: mosaics")
    focus = focus_check(
        model,
        images,
        labels,
        names,
        options,
        mosaics=budget.focus_mosaics,
        seed=seed,
        layer=layer,
        batch_size=batch_size,
    )
    localization = {}
    if items is not None:
        say("localisation: boxes")
        localization = localization_check(
            model, items, names, options, layer=layer, batch_size=batch_size
        )
    agreement = agreement_check(maps)

    skipped = {}
    if focus.skipped:
        skipped["focus"] = focus.skipped
    if items is None:
        skipped["localization"] = "no boxes given (--boxes DIR)"
    if agreement.skipped:
        skipped["agreement"] = agreement.skipped
    cards = {}
    for name in names:
        error = maps[name].error
        cells = (
            {}
            if error
            else {
                "randomization": randomization.cell(name),
                "faithfulness": faithfulness.cell(name),
                "focus": focus.cell(name),
                "localization": localization.get(name),
                "agreement": agreement.cell(name),
            }
        )
        sample = None if error else sample_overlay(images[0], maps[name].map[0])
        cards[name] = MethodCard(cells=cells, error=error, sample=sample)
    record = provenance(model.source, seed)
    protocol = {
        **record,
        "model": model.name,
        "layer": layer or model.default_layer,
        "budget": budget.as_dict(),
        "method_options": options,
        "thresholds": THRESHOLDS.as_dict(),
        "targets": "each image's top class under the trained model",
        "randomization": {
            "weights": randomization.kind,
            "layer_groups": randomization.groups,
            "measured": randomization.steps,
            "images": min(rn, len(images)),
            "similarity": "Spearman rank correlation of |map| with the trained model's, at the "
            "fully randomised model (mean over images); SSIM and HOG also reported",
        },
        "faithfulness": {
            "metric": "SRG = AUC(LeRF) - AUC(MoRF) of the target's softmax probability",
            "fill": FILL,
            "steps": budget.srg_steps,
            "images": faithfulness.images,
            "min_images": MIN_IMAGES,
            "controls": "uniform random map; the method's map blurred (Gaussian sigma "
            f"{THRESHOLDS.blur_sigma} of the side)",
        },
        "focus": {"mosaics": focus.mosaics, "tiles": "2 x 2, two of the target class"},
        "references": REFERENCES,
    }
    card = TrustCard(
        methods=cards,
        protocol=protocol,
        seed=seed,
        images=len(images),
        skipped=skipped,
        agreement=agreement.matrix,
        randomization_curves={
            m: randomization.curves[m] for m in names if m in randomization.curves
        },
        randomization_steps=randomization.steps,
    )
    if out is not None:
        card.save(Path(out))
    return card
