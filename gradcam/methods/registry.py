"""The one registry of explanation methods; the CLI, figures and web app read it.

Every method has the same call shape::

    fn(model, images, target, layer=None, batch_size=32, **options) -> Attribution

``images`` are the uint8/float pixels the network sees (N x S x S x 3), ``target`` one class
index per image (model label space). ``Attribution.raw`` is the method's own output, before any
display post-processing: a feature-resolution map [N, h, w] for the CAM family (``kind="cam"``)
or a per-pixel attribution [N, S, S, 3] for gradient-type methods (``kind="pixel"``).
"""
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


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable
    kind: str  # "cam" (feature-resolution map) or "pixel" (input-resolution attribution)
    title: str


METHODS = {}


def register(name, kind, title):
    """Decorator adding a method to the registry under ``name``."""
    if kind not in ("cam", "pixel"):
        raise ValueError(f"kind must be 'cam' or 'pixel', got {kind!r}")

    def add(fn):
        METHODS[name] = Method(name, fn, kind, title)
        return fn

    return add


def get_method(name):
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    return METHODS[name]
