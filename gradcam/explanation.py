"""The Python API: explain images with a registered method and get an ``Explanation``::

    import gradcam
    model = gradcam.Model()                                  # the embedded EfficientNet-Lite0
    gradcam.explain(model, "cat.png", "tiger cat").save("out.png")

The CLI, batch mode, Beam and the web app all go through ``explain``/``explain_many`` and draw,
save and rank with ``Explanation``'s own methods.
"""

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Optional, Union

import numpy as np
from PIL import Image

from gradcam import postprocess
from gradcam.arrays import probabilities_of
from gradcam.errors import UserError
from gradcam.images import image_array, load_image
from gradcam.labels import short_label
from gradcam.methods import get_method
from gradcam.visualize import atomic_write, new_figure, overlay, save_figure, save_png

ImageInput = Union[str, PathLike, Image.Image, np.ndarray, Sequence]
TargetInput = Union[None, int, str, Sequence]


def top_classes(logits, labels, k=5, activation: str = "softmax") -> list:
    """The ``k`` most probable classes of one image's logits [C]:
    [{"index", "label", "probability"}], most probable first (``activation``: the model's head,
    "softmax" or "sigmoid")."""
    if k < 1:
        raise UserError(f"{{argument}} must be at least 1, got {k}", "top_k")
    probabilities = probabilities_of(logits, activation)
    return [
        {"index": int(c), "label": short_label(labels, c), "probability": float(probabilities[c])}
        for c in probabilities.argsort()[::-1][:k]
    ]


@dataclass
class Explanation:
    """Everything one method said about N (image, target) rows.

    Attributes:
        method: the registered method's name.
        images: uint8 N x S x S x 3, the images the network saw.
        target: int [N], the class explained in each row (model label space).
        logits: [N, C] of each row's image.
        map: [N, S, S] float32 in [0, 1] at network input resolution (all zeros when degenerate).
        raw: the method's own output before the display step (see ``gradcam.methods.registry``).
        labels: class names of the model's label space.
        lowres: [N, h, w] raw feature-resolution map before ReLU (CAM family), else None.
        degenerate: bool [N], True where the map carried no signal (or the image none).
        extras: method-specific numbers (e.g. IG's completeness gap).
        activation: the model's head, "softmax" or "sigmoid" (multi-label).
        contrast: the class whose score was subtracted from each target's ("target rather than
            contrast"), or None.
        score: what was explained of each class: "logit" or "probability".
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
    contrast: Optional[int] = None
    score: str = "logit"

    @property
    def probabilities(self) -> np.ndarray:
        """Softmax of the logits [N, C] (each unit's sigmoid for a sigmoid head)."""
        return probabilities_of(self.logits, self.activation)

    def label(self, index) -> str:
        return short_label(self.labels, index)

    def top_k(self, k: int = 5, i: int = 0) -> list:
        """The ``k`` most probable classes of row ``i``: [{"index", "label", "probability"}]."""
        return top_classes(self.logits[i], self.labels, k, self.activation)

    def overlay(self, i: int = 0, style: str = "heatmap", alpha: float = 0.5) -> np.ndarray:
        """uint8 S x S x 3: row ``i``'s map drawn over its image (styles: heatmap, shading, blur)."""
        return overlay(self.images[i], self.map[i], style, alpha)

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
        if self.score != "logit":
            arrays["score"] = self.score
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


def network_inputs(
    model, images: ImageInput, central_fraction: Optional[float] = None
) -> np.ndarray:
    """N x S x S x 3 network-input pixels from a path, a PIL image, an H x W x 3 uint8 photo (each
    prepared as the CLI prepares it), a list of those, or an N x S x S x 3 batch (used as given)."""
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return images
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    if not items:
        raise UserError("no images given")
    return np.stack([model.prepare(_photo(item), central_fraction) for item in items])


def _photo(item):
    """RGB uint8 H x W x 3 of one image given as a path, a PIL image or an array."""
    if isinstance(item, (str, PathLike)):
        return load_image(item)
    if isinstance(item, Image.Image):
        return image_array(item)
    photo = np.asarray(item)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise UserError(
            f"an image array must be an H x W x 3 uint8 photo (or an N x S x S x 3 "
            f"batch of network inputs), got {photo.dtype} {photo.shape}"
        )
    return photo


def resolve_targets(model, images, target: TargetInput):
    """(images, target): ``target`` as class indices, one per image, or None (top class).

    A class name or index applies to every image; a list gives one per image, or, for a single
    image, several classes of it (the image is repeated, one row per class)."""
    if target is None:
        return images, None
    if isinstance(target, (str, int, np.integer)):
        target = [target]
    indices = [
        int(t) if isinstance(t, (int, np.integer)) else model.class_index(t)
        for t in np.asarray(target, object).reshape(-1)
    ]
    if len(images) == 1 and len(indices) > 1:
        images = np.repeat(images, len(indices), axis=0)
    return images, model.check_target(indices, len(images))


def explain(
    model,
    images: ImageInput,
    target: TargetInput = None,
    method: str = "grad_cam",
    *,
    layer: Optional[str] = None,
    batch_size: int = 32,
    central_fraction: Optional[float] = None,
    contrast: Union[None, int, str] = None,
    score: str = "logit",
    **options,
) -> Explanation:
    """Explain why ``model`` gives ``target`` for ``images``, with one registered method.

    Args:
        model: a ``gradcam.Model``.
        images: a path, a list of paths, a PIL image, an H x W x 3 uint8 photo (prepared as the CLI
            prepares it), or an N x S x S x 3 batch of network-input pixels.
        target: a class name or index, a list of them (one per image, or several classes of one
            image), or None for each image's top class.
        method: a registered method (``gradcam list methods``).
        layer: the layer of layer-based methods (default: the model's ``default_layer``).
        batch_size: images per session run.
        central_fraction: crop fraction of the preprocessing for photos (1.0 = no crop).
        contrast: a class (name or index): explain the target's score minus this class's, "why
            the target rather than the contrast"; None = the target's score alone.
        score: what each class's score is: "logit" (pre-softmax) or "probability" (softmax).
        **options: the method's own options (README "Methods"; ``Method.options``).

    Returns:
        An ``Explanation`` with one row per (image, target).

    Raises:
        UserError: an unreadable image, an unknown class, method, option or layer; a contrast
            class that is also a given target. (An image whose top class is the contrast, with
            ``target`` None, gets an all-zero map flagged degenerate, with a warning.)
    """
    chosen = get_method(method)
    chosen.check_options(options)
    scored = model.scoring(contrast, score)
    images, target = resolve_targets(model, network_inputs(model, images, central_fraction), target)
    _check_contrast(scored, target)
    if target is None and not chosen.graph_default_target:
        target = model.predict(images, batch_size).argmax(axis=1).astype(np.int32)
    kwargs = dict(options, batch_size=batch_size)
    if layer is not None:
        kwargs["layer"] = layer
    return _display(scored, chosen, images, target, chosen.fn(scored, images, target, **kwargs))


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
    score: str = "logit",
) -> dict:
    """{method: Explanation} of several methods on the same images and targets.

    Methods that combine quantities of one pass (Grad-CAM, Grad-CAM++, CAM, guided Grad-CAM,
    LayerCAM, XGrad-CAM, HiResCAM, Eigen-CAM) and are given no options fetch everything they need
    from ONE run of the network; the others run one by one. ``options``: {method: {option:
    value}}; other arguments as for ``explain``.
    """
    options = options or {}
    scored = model.scoring(contrast, score)
    images, target = resolve_targets(model, network_inputs(model, images, central_fraction), target)
    _check_contrast(scored, target)
    chosen = [get_method(name) for name in methods]
    shared = [m for m in chosen if m.combine is not None and not options.get(m.name)]
    results = {}
    if shared:
        keys = ("logits",) + tuple(sorted({key for m in shared for key in m.fetches}))
        out = scored.fetch(images, target, keys, layer, batch_size)
        for method in shared:
            results[method.name] = _display(
                scored, method, images, target, method.combine(scored, out)
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
                contrast=contrast,
                score=score,
                **options.get(method.name, {}),
            )
    return {name: results[name] for name in methods}


def _check_contrast(model, target):
    """UserError when a given target is the contrast class (its score would be 0 everywhere)."""
    contrast = model.contrast_class
    if contrast is not None and target is not None and np.any(np.asarray(target) == contrast):
        raise UserError(
            f"the contrast class {model.label(contrast)} ({contrast}) is also the "
            "target: explain one class rather than another"
        )


def _display(model, method, images, target, result):
    """An Explanation from a method's Attribution: finite raw values, the display map, the flags."""
    if target is None:
        target = result.logits.argmax(axis=1).astype(np.int32)
    raw = np.nan_to_num(np.asarray(result.raw, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if method.kind == "cam":
        display = postprocess.cam_map(raw, model.input_size)
    else:
        display = postprocess.gradient_map(raw)
    display, degenerate = _flag_degenerate(
        method.name, images, display, _top_is_contrast(model, method.name, target)
    )
    images = np.asarray(images)
    shown = (
        images
        if images.dtype == np.uint8
        else np.clip(np.round(images.astype(np.float32)), 0, 255).astype(np.uint8)
    )
    return Explanation(
        method.name,
        shown,
        np.asarray(target, np.int32),
        result.logits,
        display,
        raw,
        model.labels,
        result.lowres,
        degenerate,
        result.extras,
        getattr(model, "activation", "softmax"),
        model.contrast_class,
        model.score_kind,
    )


def _top_is_contrast(model, method, target):
    """Rows whose target (their top class: given targets were checked) is the contrast class:
    nothing to contrast. One warning, pointing at the caller of ``explain``/``explain_many``."""
    same = (
        np.zeros(len(target), bool)
        if model.contrast_class is None
        else np.asarray(target) == model.contrast_class
    )
    if same.any():
        warnings.warn(
            f"{method}: {int(same.sum())} of {len(same)} images have the contrast class "
            f"{model.label(model.contrast_class)} as their top class (nothing to "
            "contrast): their maps are all zero",
            stacklevel=4,
        )
    return same


def _one_colour(images):
    """bool [N]: images with one colour in every pixel. A sparse grid of pixels decides most
    images (any pixel differing from the first); only the rest are compared in full."""
    first = images[:, :1, :1]
    candidate = (images[:, ::16, ::16] == first).reshape(len(images), -1).all(axis=1)
    constant = np.zeros(len(images), bool)
    for i in np.flatnonzero(candidate):
        constant[i] = bool((images[i] == first[i]).all())
    return constant


def _flag_degenerate(method, images, display, void=None):
    """(display maps, degenerate flags): maps of constant images (no evidence at all) and ``void``
    rows (bool [N], already explained to the user) are set to zero; they and maps without signal
    are flagged, with one warning per cause. The warnings point at the caller of
    ``explain``/``explain_many`` (both reach here through ``_display``)."""
    constant = _one_colour(images)
    void = np.zeros(len(display), bool) if void is None else void
    display = np.where((constant | void)[:, None, None], np.float32(0), display)
    empty = postprocess.is_degenerate(display) & ~constant & ~void
    if constant.any():
        warnings.warn(
            f"{method}: {int(constant.sum())} of {len(display)} images are constant "
            "(one colour everywhere, nothing to explain): their maps are all zero",
            stacklevel=4,
        )
    if empty.any():
        warnings.warn(
            f"{method}: {int(empty.sum())} of {len(display)} maps are all zero "
            "(no evidence for the target at this layer)",
            stacklevel=4,
        )
    return display, constant | empty | void
