"""``gradcam.model_diff``: did the new model version change its evidence?

    import gradcam
    result = gradcam.diff(gradcam.Model("v1.keras"), gradcam.Model("v2.keras"), "data/")
    result.summary["grad_cam"]["median_iou"], result.largest(5)
    result.check("median_iou<0.5")          # the gate: [] when nothing tripped

Both models explain every image of ``data`` for the same class (the true class from class
subfolders, else A's top class, or one given class), with Grad-CAM and LayerCAM by default, and
the maps are compared in A's input frame against A's own noise floor (``gradcam.model_diff.compare``,
``gradcam.model_diff.metrics``, ``gradcam.model_diff.summary``); the strategies of each class are the audit's
clusters of A and of B, matched by their mean maps (``gradcam.model_diff.strategies``). ``out=`` writes
DIFF/report.html and DIFF/diff.json (``gradcam.model_diff.report``).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from gradcam.auditing.strategies import min_maps
from gradcam.dataset import read_labelled_folder
from gradcam.errors import UserError
from gradcam.methods import get_method
from gradcam.model_diff.compare import (
    DEFAULT_METHODS,
    class_mapping,
    collect,
    explain_pair,
    prepare_batch,
    target_in_b,
)
from gradcam.model_diff.gate import check_gate, parse_gate
from gradcam.model_diff.metrics import TOP_FRACTION
from gradcam.model_diff.report import prepare_out_dir, write_report
from gradcam.model_diff.strategies import strategy_diffs
from gradcam.model_diff.summary import SUMMARY_FIGURES, change_score, mark_changes, summarise

GALLERY = 12
NEIGHBOURS = 10  # the audit's k of its k-nearest-neighbour affinity


@dataclass(frozen=True, kw_only=True)
class Diff:
    """The comparison of two models on one data set.

    Attributes:
        images: one ``gradcam.model_diff.compare.ImageDiff`` per image, in the data set's order.
        methods: the methods compared, the first being the one unprefixed gate figures read.
        summary: {method: {figure: value}} over all images (``gradcam.model_diff.summary``).
        classes: [{"class": name, "index": A's index, "images": n, "summary": {method: {...}},
            "strategies": strategy diff or None}].
        settings: what was compared and how (models, data, fraction, noise, seed, frame).
        tripped: the gate's conditions that held (when ``diff`` was given ``fail_if``).
    """

    images: list
    methods: list
    summary: dict
    classes: list
    settings: dict
    tripped: list = field(default_factory=list)

    def check(self, fail_if: str) -> list:
        """The ``gradcam.model_diff.gate.Tripped`` conditions of gate ``fail_if`` (empty: it passes)."""
        return check_gate(parse_gate(fail_if, self.methods, SUMMARY_FIGURES), self.summary)

    def largest(self, n: int = GALLERY, method: Optional[str] = None) -> list:
        """The ``n`` images that changed most for ``method`` (default: the first), most first."""
        method = method or self.methods[0]
        return sorted(self.images, key=lambda im: -change_score(im, method))[:n]

    def as_json(self) -> dict:
        first = self.methods[0]
        images = []
        for im in self.images:
            c = im.changes[first]
            images.append(
                {
                    "path": im.path,
                    "class": im.label,
                    "iou": c.iou,
                    "spearman": c.spearman,
                    "peak_shift": c.peak_shift,
                    "centroid_shift": c.centroid_shift,
                    "top1_a": im.top1_a,
                    "top1_b": im.top1_b,
                    "probability_a": im.probability_a,
                    "probability_b": im.probability_b,
                    "flag": im.flag,
                    "changed": im.changed,
                    "methods": {
                        m: {"change": im.changes[m].as_dict(), "floor": im.floors[m].as_dict()}
                        for m in self.methods
                    },
                }
            )
        floor = {
            f: self.summary[first][f"floor_{f}"]
            for f in ("iou", "spearman", "peak_shift", "centroid_shift")
        }
        return {
            "images": images,
            "floor": floor,
            "summary": self.summary,
            "classes": self.classes,
            "methods": self.methods,
            "settings": self.settings,
            "tripped": [t.line() for t in self.tripped],
        }


def diff(
    model_a,
    model_b,
    data: Union[str, Path],
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    target=None,
    classes=None,
    class_map: Optional[dict] = None,
    fraction: float = TOP_FRACTION,
    noise: float = 1.0,
    seed: int = 0,
    batch_size: int = 16,
    fail_if: Optional[str] = None,
    strategies: bool = True,
    out: Union[None, str, Path] = None,
    progress: bool = False,
) -> Diff:
    """Compare the evidence of ``model_a`` and ``model_b`` on the images of folder ``data``.

    Args:
        model_a, model_b: ``gradcam.Model``s (the old and the new version).
        data: a folder of images, or of class subfolders (their names matched to A's classes).
        methods: registered methods to compare with (each at its model's default layer).
        target: one class (name or A's index) explained for every image; default: each image's
            true class (class subfolders), else A's top class.
        classes: restrict a labelled folder to these classes (names or indices).
        class_map: {A's class name: B's} where the label spaces differ.
        fraction: the area of the top masks whose IoU is measured.
        noise: grey levels of the floor's input perturbation.
        seed: of the perturbation and of randomised methods.
        batch_size: images per batch.
        fail_if: a gate (``gradcam.model_diff.gate``); its tripped conditions land in ``tripped``.
        strategies: also cluster each class's maps for both models and match the clusters.
        out: a folder to write report.html and diff.json into.
        progress: show a progress bar.

    Raises:
        UserError: an unreadable folder or image, different label spaces without ``class_map``,
            an unknown method or class, a malformed gate, an unusable ``out``.
    """
    names = [get_method(m).name for m in methods]
    if not names:
        raise UserError("{argument}: no method given", "methods")
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"{{argument}} must be in (0, 1], got {fraction}", "fraction")
    if noise < 0:
        raise UserError(f"{{argument}} must be >= 0, got {noise}", "noise")
    gate = parse_gate(fail_if, names, SUMMARY_FIGURES) if fail_if else []
    if out is not None:
        prepare_out_dir(out)
    mapping = class_mapping(model_a, model_b, class_map)
    folder = read_labelled_folder(data, model_a.labels, classes=classes)
    if target is not None:
        fixed = model_a.class_index(target)
        target_in_b(model_a, mapping, np.array([fixed]))
        given = [fixed] * len(folder.paths)
    elif folder.labelled:
        given = list(folder.classes)
    else:
        given = [None] * len(folder.paths)
    items = [(p, folder.relative(p), c) for p, c in zip(folder.paths, given)]
    images = collect(
        model_a,
        model_b,
        items,
        methods=names,
        mapping=mapping,
        fraction=fraction,
        noise=noise,
        seed=seed,
        batch_size=batch_size,
        progress=progress,
    )
    images = mark_changes(images, names)
    summary = {m: summarise(images, m) for m in names}
    per_class = []
    for index in sorted({im.class_a for im in images}):
        members = [im for im in images if im.class_a == index]
        per_class.append(
            {
                "class": model_a.label(index),
                "index": int(index),
                "images": len(members),
                "summary": {m: summarise(members, m) for m in names},
                "strategies": None,
            }
        )
    settings = {
        "model_a": model_a.name,
        "model_b": model_b.name,
        "data": str(folder.root),
        "labelled": folder.labelled,
        "fraction": fraction,
        "noise": noise,
        "seed": seed,
        "frame": " x ".join(str(n) for n in model_a.input_size),
        "class_map": class_map,
    }
    result = Diff(
        images=images, methods=names, summary=summary, classes=per_class, settings=settings
    )
    if strategies:
        counts = np.bincount([im.class_a for im in images], minlength=model_a.num_classes)
        if counts.max(initial=0) >= min_maps(NEIGHBOURS):
            found = strategy_diffs(
                model_a,
                model_b,
                folder,
                mapping,
                method=names[0],
                seed=seed,
                batch_size=batch_size,
            )
            for entry in per_class:
                entry["strategies"] = found.get(entry["index"])
            settings["strategies"] = f"audit clusters of {names[0]} maps (k = {NEIGHBOURS})"
        else:
            settings["strategies"] = (
                f"skipped: no class has the {min_maps(NEIGHBOURS)} images clustering needs"
            )
    tripped = check_gate(gate, summary) if gate else []
    result = Diff(
        images=images,
        methods=names,
        summary=summary,
        classes=result.classes,
        settings=settings,
        tripped=tripped,
    )
    if out is not None:
        write_report(
            result,
            out,
            gallery_maps(
                model_a,
                model_b,
                folder,
                result,
                mapping,
                noise=noise,
                seed=seed,
                batch_size=batch_size,
            ),
        )
    return result


def gallery_maps(model_a, model_b, folder, result, mapping, *, noise, seed, batch_size, n=GALLERY):
    """[(ImageDiff, method, A's input, A's map, B's map in A's frame)] of the ``n`` largest
    changes of the first method, explained again (only those images)."""
    method = get_method(result.methods[0])
    chosen = result.largest(n)
    if not chosen:
        return []
    paths = [folder.root / im.path for im in chosen]
    photos, xa, xb = prepare_batch(model_a, model_b, paths)
    class_a = np.array([im.class_a for im in chosen])
    pair = explain_pair(
        model_a,
        model_b,
        photos,
        xa,
        xb,
        class_a,
        mapping[class_a],
        method,
        noise=noise,
        seed=seed,
        batch_size=batch_size,
    )
    return [(im, method.name, xa[i], pair.a[i], pair.b[i]) for i, im in enumerate(chosen)]
