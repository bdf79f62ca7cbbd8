"""Run a registered method and turn its raw attribution into a display map."""
import warnings
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from gradcam import postprocess
from gradcam.methods import get_method


@dataclass
class Explanation:
    """Everything one method said about N (image, target) pairs.

    map: [N, S, S] float32 in [0, 1] at network input resolution (all zeros when degenerate).
    raw: the method's own output before post-processing; lowres: feature-resolution map, if any.
    """

    method: str
    target: np.ndarray
    logits: np.ndarray
    map: np.ndarray
    raw: np.ndarray
    lowres: Optional[np.ndarray] = None
    degenerate: np.ndarray = None
    extras: dict = field(default_factory=dict)

    @property
    def probabilities(self):
        z = self.logits - self.logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def explain(model, images, target, method="grad_cam", layer=None, batch_size=32, **options):
    """Explain ``images`` (N x S x S x 3 network-input pixels) for ``target`` (one per image;
    None = each image's top class)."""
    spec = get_method(method)
    spec.check_options(options)
    images = np.asarray(images)
    if target is not None:
        target = model.check_target(target, len(images))
    elif not spec.one_pass:
        target = model.predict(images, batch_size).argmax(axis=1).astype(np.int32)
    kwargs = dict(options, batch_size=batch_size)
    if layer is not None:
        kwargs["layer"] = layer
    return _display(model, spec, images, target, spec.fn(model, images, target, **kwargs))


def explain_many(model, images, target, methods, layer=None, batch_size=32, options=None):
    """{method: Explanation} of several methods on the same images and targets. Methods built on
    one shared pass (Grad-CAM, Grad-CAM++, CAM, guided Grad-CAM) and given no options fetch
    everything they need from ONE run of the network; the others run one by one."""
    from gradcam.methods.shared_pass import run_pass

    options = options or {}
    images = np.asarray(images)
    specs = [get_method(name) for name in methods]
    shared = [s for s in specs if hasattr(s.fn, "combine") and not options.get(s.name)]
    results = {}
    if shared:
        checked = None if target is None else model.check_target(target, len(images))
        fetches = sorted({f for s in shared for f in s.fn.fetches})
        out = run_pass(model, images, checked, fetches, layer, batch_size)
        for spec in shared:
            results[spec.name] = _display(model, spec, images, checked, spec.fn.combine(model, out))
    for spec in specs:
        if spec.name not in results:
            results[spec.name] = explain(model, images, target, spec.name, layer, batch_size,
                                         **options.get(spec.name, {}))
    return {name: results[name] for name in methods}


def _display(model, spec, images, target, result):
    """An Explanation from a method's Attribution: finite raw values, the display map, the flags."""
    if target is None:
        target = result.logits.argmax(axis=1).astype(np.int32)
    raw = np.nan_to_num(np.asarray(result.raw, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if spec.kind == "cam":
        display = postprocess.cam_map(raw, model.image_size)
    else:
        display = postprocess.gradient_map(raw)
    display, degenerate = _flag_degenerate(spec.name, images, display)
    return Explanation(spec.name, target, result.logits, display, raw, result.lowres, degenerate,
                       result.extras)


def _flag_degenerate(method, images, display):
    """(display maps, degenerate flags): maps of constant images (no evidence at all) are set to
    zero; they and maps without signal are flagged, with one warning per cause."""
    constant = (images == images[:, :1, :1]).reshape(len(images), -1).all(axis=1)  # one colour
    display = np.where(constant[:, None, None], np.float32(0), display)
    empty = postprocess.is_degenerate(display) & ~constant
    if constant.any():
        warnings.warn(f"{method}: {int(constant.sum())} of {len(display)} images are constant "
                      "(one colour everywhere, nothing to explain): their maps are all zero",
                      stacklevel=4)
    if empty.any():
        warnings.warn(f"{method}: {int(empty.sum())} of {len(display)} maps are all zero "
                      "(no evidence for the target at this layer)", stacklevel=4)
    return display, constant | empty
