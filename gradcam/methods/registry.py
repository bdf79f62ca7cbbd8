"""The one registry of explanation methods: the CLI, figures, web app, tests, benchmarks,
``gradcam evaluate`` and the reproduction scripts all read it, and no other table lists methods.

Every method has the same call shape::

    fn(model, images, target, layer=None, batch_size=32, score=LOGIT, **options) -> Attribution

``images`` are the pixels the network sees (N x H x W x 3), ``target`` one class index per image
(model label space), ``score`` the ``gradcam.score.Score`` explained. A method talks to the
network only through the members of ``gradcam.methods.protocol.Explainable`` (``fetch`` of the
keys of ``gradcam.fetch_keys``, ``fetch_above``, ``predict``, ``check_target`` and a few sizes;
tests/test_method_contract.py holds every method module to it) and is numpy over what they
return. ``Attribution.raw`` is the method's own output before any display step.

At registration a method declares what the cross-cutting code needs to know of it:
- ``display``: how its evidence is shown (captum's ``VisualizeSign`` idea): "positive" = a
  rectified heatmap of a map [N, h, w] (at feature resolution, or at input resolution for
  occlusion, XRAI and RISE: the array says which); "magnitude" = a per-pixel attribution
  [N, S, S, 3] shown as its magnitude summed over colours (``postprocess.evidence``);
- ``uses_score``: False for a method that explains no class score (Eigen-CAM): ``explain``
  refuses a contrast or a probability score for it, and the CLI help lists it from this flag;
- ``score_kind``: the one kind of score a method explains whatever is asked ("probability" for
  Score-CAM, its definition), else None;
- ``cost``: the network passes it cannot do without (``Cost``), which the benchmark times bare as
  the method's limit (a callable cost may also take ``channels``, the explained layer's width);
- ``smoke``: the cheapest options that still exercise it (tests, ``--quick``, ``--fast`` runs);
- ``budget``: reduced options for reproduction and evaluation runs on a 2-core CPU;
- ``fetches``: for methods that combine quantities of ONE pass (``combine(model, out)`` over
  ``model.fetch`` keys), so ``explain_many`` can serve several of them from one run;
- ``lowres``: whether its ``Attribution.lowres`` holds a feature-resolution map (the NPZ key);
- ``graph_default_target``: whether a target of None may be left to the graph's default (each
  image's top class), i.e. it scores only the given images, no perturbed copies;
- ``requires_attention``: it explains a transformer's attention (fetch keys ATTENTION,
  ATTENTION_GRADIENTS), so it applies only to models with attention blocks. Such methods are
  kept in ``ATTENTION_METHODS``, not ``METHODS`` (the methods every classifier takes, which the
  figures, evaluations and benchmarks run on CNNs); ``get_method`` finds both.
Method options are keyword arguments after ``score``; ``Method.check_options`` names the valid
ones when a caller passes an unknown one.
"""

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np

from gradcam.errors import UserError
from gradcam.fetch_keys import LOGITS
from gradcam.score import KINDS as SCORE_KINDS
from gradcam.score import LOGIT

DISPLAYS = ("positive", "magnitude")
PASSES = ("forward", "fwd_bwd_input", "fwd_bwd_layer", "head")


@dataclass(kw_only=True)
class Attribution:
    """A method's output: ``raw`` (before display), the logits [N, C] of the explained images,
    the feature-resolution map (CAM family) and method-specific numbers."""

    raw: np.ndarray
    logits: np.ndarray
    lowres: Optional[np.ndarray] = None
    extras: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Cost:
    """Per explained image: ``images`` network inputs each through ``passes`` ("forward",
    "fwd_bwd_input": forward + backward to the pixels, "fwd_bwd_layer": forward + backward to
    the layer, "head": the part of the network above the layer, fed the layer's activations);
    more than one image means they can run batched."""

    passes: str
    images: int = 1

    def __post_init__(self):
        if self.passes not in PASSES:
            raise ValueError(f"passes must be one of {PASSES}, got {self.passes!r}")


_CALL_ARGUMENTS = ("model", "images", "target", "layer", "batch_size", "score")


@dataclass(frozen=True, kw_only=True)
class Method:
    name: str
    fn: Callable
    display: str
    title: str
    cost: Union[Cost, Callable]  # a Cost, or (options with defaults, image size) -> Cost
    smoke: dict = field(default_factory=dict)
    budget: dict = field(default_factory=dict)
    fetches: tuple = ()
    combine: Optional[Callable] = None
    lowres: bool = False
    graph_default_target: bool = False
    uses_score: bool = True
    score_kind: Optional[str] = None
    requires_attention: bool = False

    @property
    def kind(self) -> str:
        """The column ``gradcam list methods`` prints: "cam" for a positive display (a heatmap),
        "pixel" for a magnitude display (a per-pixel attribution)."""
        return "cam" if self.display == "positive" else "pixel"

    @property
    def options(self):
        """Names of the method's own keyword options (beyond model, images, target, layer, batch)."""
        return list(self.defaults)

    @property
    def defaults(self):
        """{option: default value} from the function's signature."""
        return {
            p.name: p.default
            for p in inspect.signature(self.fn).parameters.values()
            if p.name not in _CALL_ARGUMENTS and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }

    def check_options(self, options):
        """UserError naming the valid options if ``options`` has one the method does not take."""
        takes_any = any(
            p.kind is p.VAR_KEYWORD for p in inspect.signature(self.fn).parameters.values()
        )
        unknown = [k for k in options if k not in self.options]
        if unknown and not takes_any:
            raise UserError(
                f"{self.name} has no option {unknown[0]!r}; its options: "
                f"{', '.join(self.options) or 'none'}"
            )

    def passes(self, options=None, image_size=224, channels=None):
        """The ``Cost`` of one image with ``options`` (defaults for the rest); ``channels``: the
        explained layer's channel count, for a cost callable that takes it (Ablation-CAM);
        ``image_size``: S of an S x S input, or (H, W)."""
        if isinstance(self.cost, Cost):
            return self.cost
        options = {**self.defaults, **(options or {})}
        if "channels" in inspect.signature(self.cost).parameters:
            return self.cost(options, image_size, channels=channels)
        return self.cost(options, image_size)


METHODS = {}
ATTENTION_METHODS = {}


def register(
    name,
    *,
    display,
    title,
    cost,
    smoke=None,
    budget=None,
    fetches=None,
    lowres=False,
    graph_default_target=False,
    uses_score=True,
    score_kind=None,
    requires_attention=False,
):
    """Decorator adding a method to the registry under ``name`` (see the module docstring).

    With ``fetches`` (keys of ``Model.fetch``) the decorated function is ``combine(model, out)``:
    it receives ``out``, the fetched arrays (plus "logits"), and the registry wraps it into the
    common call shape. The decorated function is returned unchanged.
    """
    if display not in DISPLAYS:
        raise ValueError(f"display must be one of {DISPLAYS}, got {display!r}")
    if score_kind not in (None, *SCORE_KINDS):
        raise ValueError(f"score_kind must be None or one of {SCORE_KINDS}, got {score_kind!r}")

    def add(decorated):
        if name in METHODS or name in ATTENTION_METHODS:
            taken = {**METHODS, **ATTENTION_METHODS}[name]
            raise ValueError(f"method {name!r} is registered already (by {taken.fn.__module__})")
        fn, combine = decorated, None
        if not fetches and "score" not in inspect.signature(decorated).parameters:
            raise ValueError(f"{name}: a method takes score= (the Score explained)")
        if fetches:
            fn, combine = _one_pass(decorated, tuple(fetches)), decorated
        method = Method(
            name=name,
            fn=fn,
            display=display,
            title=title,
            cost=cost,
            smoke=dict(smoke or {}),
            budget=dict(budget or {}),
            fetches=tuple(fetches or ()),
            combine=combine,
            lowres=lowres,
            graph_default_target=graph_default_target,
            uses_score=uses_score,
            score_kind=score_kind,
            requires_attention=requires_attention,
        )
        unknown = [k for k in (*method.smoke, *method.budget) if k not in method.options]
        if unknown:
            raise ValueError(f"{name}: smoke/budget option {unknown[0]!r} is not an option")
        (ATTENTION_METHODS if requires_attention else METHODS)[name] = method
        return decorated

    return add


def _one_pass(combine, fetches):
    """``combine(model, out)`` as a registry method: one ``model.fetch`` of ``fetches``."""

    @functools.wraps(combine)
    def method(model, images, target, layer=None, batch_size=32, score=LOGIT):
        out = model.fetch(images, target, (LOGITS,) + fetches, layer, batch_size, score=score)
        return combine(model, out)

    del method.__wrapped__  # its signature is the registry's call shape, not combine's
    return method


def get_method(name):
    if name in ATTENTION_METHODS:
        return ATTENTION_METHODS[name]
    if name not in METHODS:
        valid = ", ".join([*METHODS, *ATTENTION_METHODS])
        raise UserError(f"unknown method {name!r}; valid methods: {valid}")
    return METHODS[name]
