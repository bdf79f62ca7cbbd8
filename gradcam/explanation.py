"""The Python API: explain images with a registered method and get an ``Explanation``::

    import gradcam
    model = gradcam.Model()                                  # the embedded EfficientNet-Lite0
    gradcam.explain(model, "cat.png", "tiger cat").save("out.png")

The CLI, batch mode, Beam and the web app all go through ``explain``/``explain_many`` and draw,
save and rank with ``Explanation``'s own methods.
"""

import functools
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Optional, Union

import numpy as np

from gradcam import postprocess
from gradcam.arrays import probabilities_of
from gradcam.errors import UserError
from gradcam.fetch_keys import LOGITS
from gradcam.inputs import ImageInput, TargetInput, network_inputs, resolve_targets
from gradcam.labels import short_label
from gradcam.methods import Method, get_method
from gradcam.score import LOGIT, Score
from gradcam.visualize import atomic_write, new_figure, overlay, save_figure, save_png


def top_classes(logits, labels, k=5, activation: str = "softmax") -> list:
    """The ``k`` most probable classes of one image's logits [C]:
    [{"index", "label", "probability"}], most probable first (``activation``: the model's head,
    "softmax" or "sigmoid")."""
    return ranked(probabilities_of(logits, activation), labels, k)


def ranked(probabilities, labels, k=5) -> list:
    """``top_classes`` of one image's probabilities [C] (already computed)."""
    if k < 1:
        raise UserError(f"{{argument}} must be at least 1, got {k}", "top_k")
    return [
        {"index": int(c), "label": short_label(labels, c), "probability": float(probabilities[c])}
        for c in probabilities.argsort()[::-1][:k]
    ]


@dataclass(kw_only=True)
class Explanation:
    """Everything one method said about N (image, target) rows.

    Attributes:
        method: the registered method's name.
        images: uint8 N x H x W x 3, the images the network saw.
        target: int [N], the class explained in each row (model label space).
        logits: [N, C] of each row's image.
        map: [N, S, S] float32 in [0, 1] at network input resolution (all zeros when degenerate).
        raw: the method's own output before the display step (see ``gradcam.methods.registry``).
        labels: class names of the model's label space.
        lowres: [N, h, w] raw feature-resolution map before ReLU (CAM family), else None.
        degenerate: bool [N], True where the map carried no signal (or the image none).
        extras: method-specific numbers (e.g. IG's completeness gap).
        activation: the model's head, "softmax" or "sigmoid" (multi-label).
        score: what was explained (``gradcam.score.Score``, its contrast resolved to an index):
            ``score.kind`` "logit" or "probability", ``score.contrast`` (also ``contrast``) the
            class whose score was subtracted from each target's, or None.
    """

    method: str
    images: np.ndarray
    target: np.ndarray
    logits: np.ndarray
    map: np.ndarray
    raw: np.ndarray
    labels: Sequence[str]
    lowres: Optional[np.ndarray] = None
    degenerate: Optional[np.ndarray] = None
    extras: dict = field(default_factory=dict)
    activation: str = "softmax"
    score: Score = LOGIT

    @property
    def contrast(self) -> Optional[int]:
        """The class explained against ("target rather than contrast"), or None."""
        return self.score.contrast

    @functools.cached_property
    def probabilities(self) -> np.ndarray:
        """Softmax of the logits [N, C] (each unit's sigmoid for a sigmoid head), computed once
        (the title, ``top_k`` and the records of every row read it)."""
        return probabilities_of(self.logits, self.activation)

    def label(self, index) -> str:
        return short_label(self.labels, index)

    def top_k(self, k: int = 5, i: int = 0) -> list:
        """The ``k`` most probable classes of row ``i``: [{"index", "label", "probability"}]."""
        return ranked(self.probabilities[i], self.labels, k)

    def overlay(
        self,
        i: int = 0,
        style: str = "heatmap",
        alpha: float = 0.5,
        display: Optional[str] = None,
    ) -> np.ndarray:
        """uint8 H x W x 3: row ``i``'s map drawn over its image (styles: heatmap, shading, blur).
        ``display`` ("positive" or "magnitude") draws ``raw`` another way than the method's own
        display (``postprocess.evidence``); None draws ``map``."""
        shown = self.map[i]
        if display is not None and display != get_method(self.method).display:
            size = self.images.shape[1:3]
            shown = postprocess.display_map(self.raw[i : i + 1], display, size)[0]
        return overlay(self.images[i], shown, style, alpha)

    def _repr_png_(self) -> bytes:
        """The figure (image and titled overlays) as PNG bytes: how a notebook shows it."""
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()

    def title(self, i: int) -> str:
        """ "label (index) p=probability" of row ``i``'s target, then "vs label (index)" of the
        contrast class, if any."""
        t = int(self.target[i])
        title = f"{self.label(t)} ({t}) p={self.probabilities[i, t]:.3f}"
        if self.contrast is not None:
            title += f"\nvs {self.label(self.contrast)} ({self.contrast})"
        return title

    def figure(self, style: str = "heatmap", alpha: float = 0.5):
        """matplotlib Figure: the image, then one titled overlay per row (as ``gradcam explain``
        draws it); rows of different images each show their own image first."""
        one_image = self._one_image()
        panels = [] if not one_image else [("input", self.images[0])]
        for i in range(len(self.target)):
            if not one_image:
                panels.append(("input", self.images[i]))
            panels.append((self.title(i), self.overlay(i, style, alpha)))
        figure, axes = new_figure(1, len(panels), 3.2, 3.4)
        for ax, (title, picture) in zip(axes.flat, panels):
            ax.axis("off")
            ax.imshow(picture)
            ax.set_title(title, fontsize=9)
        figure.tight_layout()
        return figure

    def npz_arrays(self, i: Optional[int] = None, maps: str = "full") -> dict:
        """The ``--save-npz`` keys of row ``i``, or of every row: logits (pre-softmax), target,
        map, input (uint8), degenerate, lowres (when the method has one), contrast (when given) and
        score (when not "logit"). Rows of one image (several classes) share its logits and input;
        target, map, lowres and degenerate gain a row axis. ``maps="lowres"`` leaves out the S x S
        map (it is the lowres map ReLU'd, upsampled and normalised, ``postprocess.cam_map``); only
        for methods with a lowres map."""
        if maps not in ("full", "lowres"):
            raise UserError(f"{{argument}} must be full or lowres, got {maps!r}", "maps")
        if maps == "lowres" and self.lowres is None:
            raise UserError(
                f"{self.method} has no feature-resolution map: {{argument}} must be full", "maps"
            )
        if i is None and len(self.target) == 1:
            i = 0
        rows = slice(None) if i is None else i
        shared = 0 if i is None and self._one_image() else rows
        arrays = {
            "logits": self.logits[shared].astype(np.float32),
            "target": int(self.target[i]) if i is not None else self.target.astype(np.int64),
            "map": self.map[rows],
            "input": self.images[shared],
            "degenerate": bool(self.degenerate[i]) if i is not None else self.degenerate,
        }
        if self.lowres is not None:
            arrays["lowres"] = self.lowres[rows].astype(np.float32)
        if self.contrast is not None:
            arrays["contrast"] = int(self.contrast)
        if self.score.kind != "logit":
            arrays["score"] = self.score.kind
        if maps == "lowres":
            del arrays["map"]
        return arrays

    def save(
        self,
        path: Union[str, PathLike],
        i: Optional[int] = None,
        style: str = "heatmap",
        alpha: float = 0.5,
        maps: str = "full",
    ) -> Path:
        """Write ``path`` atomically: a path ending in .npz gets ``npz_arrays(i, maps)``; any
        other path a PNG of row ``i``'s overlay (all rows side by side when ``i`` is None)."""
        path = Path(path)
        if path.suffix.lower() == ".npz":
            arrays = self.npz_arrays(i, maps)

            def write(tmp):
                with open(tmp, "wb") as handle:
                    np.savez(handle, **arrays)

            atomic_write(path, write)
        else:
            rows = range(len(self.target)) if i is None else [i]
            save_png(path, np.concatenate([self.overlay(r, style, alpha) for r in rows], axis=1))
        return path

    def save_figure(self, path, style="heatmap", alpha=0.5) -> Path:
        """Write ``figure()`` as a PNG (atomically)."""
        save_figure(path, self.figure(style, alpha))
        return Path(path)

    def _one_image(self):
        return bool((self.images == self.images[:1]).all())


def explain(
    model,
    images: ImageInput,
    target: TargetInput = None,
    method: Union[str, Method] = "grad_cam",
    *,
    layer: Optional[str] = None,
    batch_size: int = 32,
    central_fraction: Optional[float] = None,
    contrast: Union[None, int, str] = None,
    score: Union[str, Score] = "logit",
    **options,
) -> Explanation:
    """Explain why ``model`` gives ``target`` for ``images``, with one registered method.

    Args:
        model: a ``gradcam.Model``.
        images: a path, a list of paths, a PIL image, an H x W x 3 uint8 photo (prepared as the CLI
            prepares it), or an N x H x W x 3 batch of network-input pixels.
        target: a class name or index, a list of them (one per image, or several classes of one
            image), or None for each image's top class.
        method: a registered method (``gradcam list methods``), or its ``Method`` record when
            the caller has checked ``options`` already (they are then not checked again).
        layer: the layer of layer-based methods (default: the model's ``default_layer``).
        batch_size: images per session run.
        central_fraction: crop fraction of the preprocessing for photos (1.0 = no crop).
        contrast: a class (name or index): explain the target's score minus this class's, "why
            the target rather than the contrast"; None = the target's score alone.
        score: what each class's score is: "logit" (pre-softmax) or "probability" (softmax), or a
            whole ``gradcam.score.Score`` (then ``contrast`` may be left None).
        **options: the method's own options (README "Methods"; ``Method.options``).

    Returns:
        An ``Explanation`` with one row per (image, target).

    Raises:
        UserError: an unreadable image, an unknown class, method, option or layer; a contrast
            class that is also a given target; a contrast or probability score for a method that
            uses no score (``Method.uses_score``). (An image whose top class is the contrast, with
            ``target`` None, gets an all-zero map flagged degenerate, with a warning.)
    """
    if isinstance(method, Method):
        chosen = method  # its caller has checked the options
    else:
        chosen = get_method(method)
        chosen.check_options(options)
    wanted = _check_score(chosen, Score.of_arguments(score, contrast).resolve(model.labels))
    images, target = resolve_targets(model, network_inputs(model, images, central_fraction), target)
    _check_contrast(model, wanted, target)
    if target is None and not chosen.graph_default_target:
        target = model.predict(images, batch_size).argmax(axis=1).astype(np.int32)
    kwargs = dict(options, batch_size=batch_size, score=wanted)
    if layer is not None:
        kwargs["layer"] = layer
    result = chosen.fn(model, images, target, **kwargs)
    return _display(model, chosen, images, target, result, wanted)


def explain_many(
    model,
    images: ImageInput,
    target: TargetInput,
    methods: Sequence[str],
    *,
    layer: Optional[str] = None,
    batch_size: int = 32,
    central_fraction: Optional[float] = None,
    options: Optional[dict] = None,
    contrast: Union[None, int, str] = None,
    score: Union[str, Score] = "logit",
) -> dict:
    """{method: Explanation} of several methods on the same images and targets.

    Methods that combine quantities of one pass (registered with ``fetches=``, e.g. Grad-CAM and
    the CAM family) and are given no options fetch everything they need from ONE run of the
    network; the others run one by one. ``options``: {method: {option: value}}; other arguments
    as for ``explain``.
    """
    options = options or {}
    wanted = Score.of_arguments(score, contrast).resolve(model.labels)
    images, target = resolve_targets(model, network_inputs(model, images, central_fraction), target)
    _check_contrast(model, wanted, target)
    chosen = [get_method(name) for name in methods]
    for method in chosen:
        _check_score(method, wanted)
    shared = [m for m in chosen if m.combine is not None and not options.get(m.name)]
    results = {}
    if shared:
        keys = (LOGITS,) + tuple(sorted({key for m in shared for key in m.fetches}))
        out = model.fetch(images, target, keys, layer, batch_size, score=wanted)
        for method in shared:
            results[method.name] = _display(
                model, method, images, target, method.combine(model, out), wanted
            )
    for method in chosen:
        if method.name not in results:
            results[method.name] = explain(
                model,
                images,
                target,
                method.name,
                layer=layer,
                batch_size=batch_size,
                score=wanted,
                **options.get(method.name, {}),
            )
    return {name: results[name] for name in methods}


def _check_score(method, score):
    """``score`` when ``method`` can explain it; UserError for a contrast or a probability score
    asked of a method that uses no score (registered ``uses_score=False``)."""
    if not method.uses_score and not score.is_default:
        raise UserError(
            f"{method.name} uses no class score: a contrast class or a probability score "
            "does not apply to it"
        )
    return score


def _check_contrast(model, score, target):
    """UserError when a given target is the contrast class (its score would be 0 everywhere)."""
    contrast = score.contrast
    if contrast is not None and target is not None and np.any(np.asarray(target) == contrast):
        raise UserError(
            f"the contrast class {model.label(contrast)} ({contrast}) is also the "
            "target: explain one class rather than another"
        )


def _display(model, method, images, target, result, score):
    """An Explanation from a method's Attribution: finite raw values, the display map, the flags."""
    if target is None:
        target = result.logits.argmax(axis=1).astype(np.int32)
    raw = np.nan_to_num(np.asarray(result.raw, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    display = postprocess.display_map(raw, method.display, model.input_size)
    display, degenerate = postprocess.flag_degenerate(
        method.name, images, display, _top_is_contrast(model, score, method.name, target)
    )
    images = np.asarray(images)
    shown = (
        images
        if images.dtype == np.uint8
        else np.clip(np.round(images.astype(np.float32)), 0, 255).astype(np.uint8)
    )
    return Explanation(
        method=method.name,
        images=shown,
        target=np.asarray(target, np.int32),
        logits=result.logits,
        map=display,
        raw=raw,
        labels=model.labels,
        lowres=result.lowres,
        degenerate=degenerate,
        extras=result.extras,
        activation=model.activation,
        score=score,
    )


def _top_is_contrast(model, score, method, target):
    """Rows whose target (their top class: given targets were checked) is the contrast class:
    nothing to contrast. One warning, pointing at the caller of ``explain``/``explain_many``."""
    same = (
        np.zeros(len(target), bool)
        if score.contrast is None
        else np.asarray(target) == score.contrast
    )
    if same.any():
        warnings.warn(
            f"{method}: {int(same.sum())} of {len(same)} images have the contrast class "
            f"{model.label(score.contrast)} as their top class (nothing to "
            "contrast): their maps are all zero",
            stacklevel=4,
        )
    return same
