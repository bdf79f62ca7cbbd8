"""Randomisation sanity check (Adebayo et al. 2018, "Sanity Checks for Saliency Maps", NeurIPS)
and eMPRT (Hedström et al. 2024, "Sanity Checks Revisited: An Exploration to Repair the Model
Parameter Randomisation Test"), for every kind of model.

Cascading randomisation re-draws the weights layer group by layer group from the output down;
after chosen depths each method explains the same images for the trained model's top classes and
its map is compared with the trained model's map: Spearman rank correlation of |map|, SSIM of the
maps scaled to [0, 1], and the Pearson correlation of their HOG descriptors (the paper's three).
A map that stays similar when the model is fully randomised does not explain the model.

Two ways to randomise, one interface (``cascade``):

- a model with variables (TF-Slim checkpoints, TF1 SavedModels): the variables are re-drawn in
  the session and restored bit-exactly afterwards
  (``gradcam.evaluation.randomization.cascading_randomization``);
- a model file whose weights are constants of a frozen graph (Keras, TF2 SavedModel, .pb): the
  graph is not changed at all. TF1 sessions can feed any tensor, a constant's output included, so
  the randomised model is a view of the same ``Model`` (same graph and built pieces) whose session
  runs feed random values in place of the chosen constants (``randomized_view``). The original
  model never changes, so its logits afterwards are its logits before, bit for bit.

Weight constants (``weight_groups``) are the floating-point constants of the imported graph with
more than one element that an arithmetic op of the network uses (a convolution, matrix product,
bias, batch norm, scale), reached through Identity/Cast/Reshape-like ops; they are grouped by the
name scope of that op (the layer), and the groups ordered by the depth of that op in the graph,
deepest (nearest the logits) first. Random values keep each tensor's location and spread
(``gradcam.evaluation.randomization.random_like``, as for the Slim variables).

eMPRT: the rise of the explanation's complexity from the trained to the fully randomised model,
complexity being the Shannon entropy of the histogram of the map's values (|map| scaled to
[0, 1], ``ENTROPY_BINS`` bins), as a ratio: > 1 means the map became more disordered when the
model lost what it learned, which a map that explains the model should.
"""

import contextlib
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import scipy.stats
import skimage.feature

from gradcam.evaluation.randomization import cascading_randomization, layer_groups, random_like
from gradcam.evaluation.similarity import spearman, ssim
from gradcam.loaders.analysis import op_inputs, reachable
from gradcam.loaders.graph_file import SCOPE
from gradcam.method_trust.maps import method_maps
from gradcam.method_trust.protocol import THRESHOLDS
from gradcam.postprocess import normalize
from nets.tf_compat import tf

ENTROPY_BINS = 100
PASS_THROUGH = {
    "Identity",
    "Cast",
    "Reshape",
    "ReadVariableOp",
    "Transpose",
    "ExpandDims",
    "Squeeze",
}
WEIGHT_USERS = {
    "Conv2D",
    "Conv3D",
    "DepthwiseConv2dNative",
    "MatMul",
    "BatchMatMulV2",
    "BatchMatMulV3",
    "Einsum",
    "BiasAdd",
    "Add",
    "AddV2",
    "Sub",
    "Mul",
    "FusedBatchNorm",
    "FusedBatchNormV2",
    "FusedBatchNormV3",
}
_SUFFIX = re.compile(r"_\d+$")


# -- weight groups of a frozen graph ------------------------------------------------------------
def _user(tensor):
    """The first op that computes with ``tensor`` (walking through pass-through ops), or None."""
    while True:
        consumers = tensor.consumers()
        if not consumers:
            return None
        op = consumers[0]
        if op.type not in PASS_THROUGH:
            return op
        tensor = op.outputs[0]


def _layer_name(op) -> str:
    """The layer scope of an op of the imported graph: its scope, without our import scope and
    without Keras 3's ``_N`` name-scope suffixes."""
    scope = op.name.rpartition("/")[0].removeprefix(f"{SCOPE}/")
    return "/".join(_SUFFIX.sub("", part) for part in scope.split("/")) or op.name


def weight_groups(model) -> "OrderedDict[str, list]":
    """{layer: [weight constant tensors]} of a model whose weights are graph constants, the
    layer nearest the logits first (empty for a model without such constants)."""
    operations = model.graph.get_operations()
    depth = {}
    for op in operations:  # the graph's op order is topological (ops are made after inputs)
        depth[op] = 1 + max((depth.get(t.op, 0) for t in op.inputs), default=0)
    feeds_logits = reachable(model.logits_tensor.op, op_inputs)
    groups, deepest = OrderedDict(), {}
    for op in operations:
        if op.type != "Const" or op not in feeds_logits or not op.name.startswith(f"{SCOPE}/"):
            continue
        tensor = op.outputs[0]
        if not tensor.dtype.is_floating or (tensor.shape.num_elements() or 0) < 2:
            continue
        user = _user(tensor)
        if user is None or user.type not in WEIGHT_USERS:
            continue
        name = _layer_name(user)
        groups.setdefault(name, []).append(tensor)
        deepest[name] = max(deepest.get(name, 0), depth[user])
    order = sorted(groups, key=lambda n: -deepest[n])
    return OrderedDict((name, groups[name]) for name in order)


def randomized_view(model, feeds: dict):
    """A view of ``model`` (same graph, built pieces, labels) whose every session run also feeds
    ``feeds``: {graph tensor: value}; ``model`` itself is left as it is (``Model.with_feeds``)."""
    return model.with_feeds(feeds)


def randomization_kind(model) -> str:
    """ "variables" (weights in the session) or "constants" (weights in a frozen graph)."""
    with model.graph.as_default():
        return "variables" if tf.global_variables() else "constants"


def layer_group_names(model) -> list:
    """The layer groups of the cascade, output first."""
    if randomization_kind(model) == "variables":
        return list(layer_groups(model))
    return list(weight_groups(model))


@contextlib.contextmanager
def cascade(model, seed: int = 0):
    """``with cascade(model) as steps: for layer, randomized in steps: ...``

    Each step randomises one more layer group (output first) on top of the previous ones and
    yields its name and the model to explain with: ``model`` itself with re-drawn variables
    (restored bit-exactly on exit), or a view feeding random constants (``model`` unchanged).
    """
    if randomization_kind(model) == "variables":
        with cascading_randomization(model, seed=seed) as steps:
            yield ((layer, model) for layer in steps)
        return
    groups = weight_groups(model)
    originals = model.session.run({name: tensors for name, tensors in groups.items()})
    rng = np.random.default_rng(seed)

    def steps():
        feeds = {}
        for name, tensors in groups.items():
            for tensor, value in zip(tensors, originals[name]):
                feeds[tensor] = random_like(value, rng)
            yield name, randomized_view(model, feeds)

    yield steps()


# -- similarity and complexity --------------------------------------------------------------
def hog_similarity(a, b) -> float:
    """Pearson correlation of the HOG descriptors (Dalal & Triggs 2005, scikit-image) of two
    maps scaled to [0, 1]; NaN when either descriptor is constant."""
    cell = max(4, min(np.shape(a)) // 14)  # 16 pixels at 224
    features = [
        skimage.feature.hog(np.asarray(m, np.float64), pixels_per_cell=(cell, cell)) for m in (a, b)
    ]
    if np.ptp(features[0]) == 0 or np.ptp(features[1]) == 0:
        return float("nan")
    return float(scipy.stats.pearsonr(features[0], features[1])[0])


def similarities(original, randomized) -> dict:
    """Mean over images of Spearman (|map|), SSIM and HOG similarity of two stacks of maps."""
    a, b = normalize(original), normalize(randomized)
    return {
        "spearman": _nanmean([spearman(x, y) for x, y in zip(original, randomized)]),
        "ssim": _nanmean([ssim(x, y) for x, y in zip(a, b)]),
        "hog": _nanmean([hog_similarity(x, y) for x, y in zip(a, b)]),
    }


def _nanmean(values) -> float:
    values = np.asarray(values, np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def map_entropy(saliency, bins: int = ENTROPY_BINS) -> float:
    """Shannon entropy (nats) of the histogram of |map| scaled to [0, 1] (``bins`` equal bins);
    0 for a constant map."""
    values = np.abs(np.asarray(saliency, np.float64)).ravel()
    span = np.ptp(values)
    if span == 0:
        return 0.0
    counts, _ = np.histogram((values - values.min()) / span, bins=bins, range=(0.0, 1.0))
    return float(scipy.stats.entropy(counts))


def emprt(original, randomized) -> float:
    """eMPRT: mean entropy of the fully randomised model's maps over the trained model's (NaN when
    the trained maps have none)."""
    before = np.mean([map_entropy(m) for m in original])
    after = np.mean([map_entropy(m) for m in randomized])
    return float(after / before) if before > 0 else float("nan")


# -- the check ------------------------------------------------------------------------------
@dataclass(kw_only=True)
class RandomizationResult:
    """Per method: the similarity curve over the measured depths and the verdict numbers."""

    steps: list
    curves: dict = field(default_factory=dict)  # method -> [{"spearman", "ssim", "hog"}]
    emprt: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    kind: str = "variables"
    groups: int = 0

    def cell(self, method) -> Optional[dict]:
        if method in self.errors:
            return {"error": self.errors[method], "verdict": None}
        if method not in self.curves:
            return None
        curve = self.curves[method]
        final = curve[-1]
        similarity = cascade_similarity(curve)
        return {
            "similarity": similarity,
            "final_similarity": final["spearman"],
            "ssim": final["ssim"],
            "hog": final["hog"],
            "emprt": self.emprt[method],
            "curve": curve,
            "verdict": randomization_verdict(similarity, final["spearman"]),
        }


def cascade_similarity(curve) -> float:
    """The similarity the verdict reads: the mean Spearman over the measured depths of the
    cascade (the area under its similarity curve). Adebayo et al.'s finding is a map that stays
    the same while the upper layers are re-drawn; the map of the fully randomised model alone can
    lose its likeness at the very last (input) layer and hide that."""
    values = np.array([c["spearman"] for c in curve], np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def randomization_verdict(similarity, final=None, thresholds=THRESHOLDS) -> str:
    """fail: the map survives the cascade (mean similarity) or full randomisation (``final``);
    warn: it partly does; pass: it does not."""
    if not np.isfinite(similarity):
        return "warn"
    worst = max(similarity, final if final is not None and np.isfinite(final) else -1.0)
    if worst >= thresholds.similarity_fail:
        return "fail"
    return "warn" if similarity >= thresholds.similarity_warn else "pass"


def measured_depths(groups: int, depths: Optional[int]) -> list:
    """Indices (0-based) of the cascade steps measured: ``depths`` spread evenly, the last one
    always the fully randomised model; every step for None."""
    if depths is None or depths >= groups:
        return list(range(groups))
    return sorted({int(round(x)) for x in np.linspace(0, groups - 1, max(1, depths))})


def randomization_check(
    model,
    images,
    targets,
    originals,
    methods,
    options,
    *,
    depths,
    seed=0,
    layer=None,
    batch_size=32,
    progress=None,
) -> RandomizationResult:
    """Cascading randomisation of ``model`` with ``methods`` explaining ``images`` for
    ``targets`` (the trained model's); ``originals``: {method: MethodMaps} of the trained model.
    The model's weights are as before when this returns."""
    runnable = [m for m in methods if originals[m].error is None]
    result = RandomizationResult(steps=[], kind=randomization_kind(model))
    result.errors = {m: originals[m].error for m in methods if originals[m].error is not None}
    names = layer_group_names(model)
    result.groups = len(names)
    if not names:
        result.errors.update({m: "no weights found to randomise" for m in runnable})
        return result
    chosen = set(measured_depths(len(names), depths))
    last = {}
    with cascade(model, seed) as steps:
        for index, (name, randomized) in enumerate(steps):
            if index not in chosen:
                continue
            result.steps.append(name)
            with warnings.catch_warnings():  # all-zero maps of a random model are expected
                warnings.simplefilter("ignore", UserWarning)
                maps = method_maps(
                    randomized,
                    images,
                    targets,
                    runnable,
                    options,
                    layer=layer,
                    batch_size=batch_size,
                )
            for method in runnable:
                if maps[method].error is not None:
                    result.errors[method] = f"on the randomised model: {maps[method].error}"
                    continue
                last[method] = maps[method].absolute
                result.curves.setdefault(method, []).append(
                    similarities(originals[method].absolute, maps[method].absolute)
                )
            if progress:
                progress(f"randomisation: down to {name} ({index + 1}/{len(names)} layers)")
    for method in runnable:
        if method in result.errors:
            result.curves.pop(method, None)
        elif method in last:
            result.emprt[method] = emprt(originals[method].absolute, last[method])
    return result
