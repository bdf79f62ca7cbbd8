"""The one registry of explanation methods; the CLI, figures and web app read it.

Every method has the same call shape::

    fn(model, images, target, layer=None, batch_size=32, **options) -> Attribution

``images`` are the uint8/float pixels the network sees (N x S x S x 3), ``target`` one class
index per image (model label space). ``Attribution.raw`` is the method's own output, before any
display post-processing: a feature-resolution map [N, h, w] for the CAM family (``kind="cam"``)
or a per-pixel attribution [N, S, S, 3] for gradient-type methods (``kind="pixel"``).
A "cam" map may also be at input resolution [N, S, S] (occlusion); it is displayed rectified.
Method options are keyword arguments after ``batch_size``; ``Method.check_options`` names the
valid ones when a caller passes an unknown one.
"""
import inspect
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from gradcam.errors import UserError


@dataclass
class Attribution:
    raw: np.ndarray
    logits: np.ndarray
    lowres: Optional[np.ndarray] = None
    extras: dict = field(default_factory=dict)


_CALL_ARGUMENTS = ("model", "images", "target", "layer", "batch_size")


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable
    kind: str  # "cam" (feature-resolution map) or "pixel" (input-resolution attribution)
    title: str
    # True when the method scores only the given images (no perturbed copies), so a target of
    # None can be left to the graph's default, each image's top class, saving a forward pass.
    one_pass: bool = False

    @property
    def options(self):
        """Names of the method's own keyword options (beyond model, images, target, layer, batch)."""
        return [p.name for p in inspect.signature(self.fn).parameters.values()
                if p.name not in _CALL_ARGUMENTS and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def check_options(self, options):
        """UserError naming the valid options if ``options`` has one the method does not take."""
        takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(self.fn).parameters.values())
        unknown = [k for k in options if k not in self.options]
        if unknown and not takes_any:
            raise UserError(f"{self.name} has no option {unknown[0]!r}; its options: "
                            f"{', '.join(self.options) or 'none'}")


METHODS = {}


def register(name, kind, title, one_pass=False):
    """Decorator adding a method to the registry under ``name`` (``one_pass``: see ``Method``)."""
    if kind not in ("cam", "pixel"):
        raise ValueError(f"kind must be 'cam' or 'pixel', got {kind!r}")

    def add(fn):
        if name in METHODS:
            raise ValueError(f"method {name!r} is registered already (by {METHODS[name].fn.__module__})")
        METHODS[name] = Method(name, fn, kind, title, one_pass)
        return fn

    return add


def get_method(name):
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    return METHODS[name]
