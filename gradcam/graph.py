"""A classifier as one TF1 graph (``ClassifierGraph``), and the gradient override its ReLUs carry.

Every way of getting a model (a Slim network and checkpoint, a frozen GraphDef or SavedModel, ...)
is a loader that builds a ``ClassifierGraph`` inside ``building(graph)``; ``gradcam.model.Model``
takes it from there. The graph input is the image the network sees as float32 pixels in [0, 255]
(N x H x W x 3); value normalisation happens inside the graph, so attributions live in pixel
space and overlays are drawn on exactly that image.

Guided backpropagation (Springenberg et al. 2014, "Striving for Simplicity: The All Convolutional
Net"): every ReLU and ReLU6 built (or imported) under ``building`` gets a gradient override. Its
gradient is TensorFlow's own, except while ``guided_gradients`` builds a backward path (once per
model): then it also zeroes negative incoming gradients. So the plain backward costs nothing extra
and the guided one is a second path, built once.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from gradcam.errors import UserError
from gradcam.fetch_keys import ATTENTION, ATTENTION_GRADIENTS
from gradcam.preprocessing import Preprocessing
from nets.tf_compat import tf

# ReLUs created under this map get the gradients registered below.
GUIDED_OVERRIDES = {"Relu": "GradcamRelu", "Relu6": "GradcamRelu6"}
_BUILDING_GUIDED = "_gradcam_building_guided"  # graph attribute, True only inside guided_gradients


def _maybe_guided(op, grad, plain):
    if getattr(op.graph, _BUILDING_GUIDED, False):
        return plain * tf.cast(grad > 0, grad.dtype)
    return plain


@tf.RegisterGradient("GradcamRelu")
def _relu_grad(op, grad):
    return _maybe_guided(op, grad, tf.raw_ops.ReluGrad(gradients=grad, features=op.outputs[0]))


@tf.RegisterGradient("GradcamRelu6")
def _relu6_grad(op, grad):
    return _maybe_guided(op, grad, tf.raw_ops.Relu6Grad(gradients=grad, features=op.inputs[0]))


def guided_gradients(ys, xs):
    """``tf.gradients(ys, xs)`` with guided-backprop rules at every overridden ReLU/ReLU6."""
    graph = ys.graph
    setattr(graph, _BUILDING_GUIDED, True)
    try:
        return tf.gradients(ys, xs)
    finally:
        setattr(graph, _BUILDING_GUIDED, False)


@contextlib.contextmanager
def building(graph):
    """``graph`` as the default graph, with the guided-backprop override on its ReLUs."""
    with graph.as_default(), graph.gradient_override_map(GUIDED_OVERRIDES):
        yield graph


def _no_weights(session):
    """Restore step of a graph whose weights are constants."""


@dataclass(frozen=True, kw_only=True)
class ClassifierGraph:
    """What a loader builds: a classifier in its own graph, ready for ``gradcam.model.Model``.

    Attributes:
        graph: the graph, built inside ``building(graph)``.
        images: float32 placeholder N x H x W x 3 of pixels in [0, 255] (H, W fixed).
        logits: pre-softmax class scores, reshapeable to [N, C] with C fixed.
        layers: explainable 4-D feature maps [N, h, w, c] by name, input side first.
        default_layer: the key of ``layers`` the CAM family explains unless told otherwise.
        name: what to call the model in outputs (network name or file name).
        preprocessing: geometry and value normalisation (see ``gradcam.preprocessing``).
        label_offset: 1 when class 0 is Slim's background class.
        head_weights: [C_in, C] weights of a final linear layer after global average pooling, read
            from the session at every run (CAM); None when the model has no such head.
        restore: loads the weights into a new session of ``graph``.
        source: the checkpoint or file the weights came from (for records).
        activation: the head's activation, "softmax" (one class per image) or "sigmoid" (one
            independent probability per unit: multi-label); ``logits`` are its input.
        extra_layers: more 4-D maps accepted by name but not listed (tensor names of a graph).
        unguided: activation kinds of the model that get no guided-backprop rule (only ReLU and
            ReLU6 have one), for the note guided methods print.
        default_reason: why ``default_layer`` is the default (printed by ``gradcam list layers``).
        tokens: {layer key: ``gradcam.loaders.tokens.TokenGrid``} of the layers that are a
            transformer's tokens shown as the map of their patch grid (their tensor in ``layers``
            is that map).
        prefixes: {layer key: tensor N x k x C} of the token layers with k > 0 prefix tokens: the
            part of the layer's output beside its map (fed with the map to feed the layer).
        attention: each transformer block's attention probabilities [N, heads, T, T], input side
            first (empty for other models).
        attention_tokens: the ``TokenGrid`` of the tokens the attention is over (None without).
        windowed_attention: how many attention blocks attend within windows (Swin), which the
            attention methods cannot use (not in ``attention``).
        windowed_layers: the keys of Keras layers inside windowed attention (refused by name).
    """

    graph: tf.Graph
    images: tf.Tensor
    logits: tf.Tensor
    layers: dict
    default_layer: str
    name: str
    preprocessing: Preprocessing
    label_offset: int = 0
    head_weights: Optional[tf.Tensor] = None
    restore: Callable = _no_weights
    source: Optional[str] = None
    activation: str = "softmax"
    extra_layers: dict = field(default_factory=dict)
    unguided: tuple = ()
    default_reason: str = ""
    tokens: dict = field(default_factory=dict)
    prefixes: dict = field(default_factory=dict)
    attention: tuple = ()
    attention_tokens: Optional[object] = None
    windowed_attention: int = 0
    windowed_layers: tuple = ()

    def describe(self) -> tuple:
        """``LayerRecord`` of each explainable layer, input side first."""
        return tuple(
            LayerRecord(
                name=name,
                shape=tuple(tensor.shape.as_list()[1:]),
                tokens=self.tokens.get(name),
                default=name == self.default_layer,
            )
            for name, tensor in self.layers.items()
        )


@dataclass(frozen=True, kw_only=True)
class LayerRecord:
    """One explainable layer: its map's (h, w, c) ``shape`` (None where not fixed) and, for a
    transformer's token layer, its ``tokens`` layout."""

    name: str
    shape: tuple
    tokens: Optional[object] = None
    default: bool = False

    @property
    def text(self) -> str:
        """ "7x7x320", or "tokens 37 = 1 + 6x6, 64 channels"."""
        if self.tokens is not None:
            return self.tokens.text
        return "x".join("?" if d is None else str(d) for d in self.shape)


def depends_only_through(fetch, tensor, images):
    """True when ``fetch`` reaches the ``images`` placeholder only through ``tensor`` (a tensor or
    a tuple of them: so feeding them computes ``fetch`` without the images)."""
    fed = set(tensor) if isinstance(tensor, tuple) else {tensor}
    seen, stack = set(), [fetch.op]
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        if op is images.op:
            return False
        stack.extend(t.op for t in op.inputs if t not in fed)
        stack.extend(op.control_inputs)
    return True


def attention_pieces(score, attention, name, windowed=0) -> dict:
    """{ATTENTION, ATTENTION_GRADIENTS}: the blocks' attention probabilities stacked, and the
    gradient of ``score`` with respect to each (UserError when the model has no attention over
    its tokens; ``windowed``: its count of windowed attention blocks, named in the error)."""
    if windowed and not attention:
        raise UserError(
            f"{name}: its {windowed} attention blocks attend within windows (Swin), not over the "
            "image's tokens; attention rollout and generic attention need every block's "
            "attention over all tokens (use the CAM family)"
        )
    if not attention:
        raise UserError(
            f"{name} has no attention blocks (softmax over N x heads x T x T); the attention "
            "methods explain vision transformers"
        )
    shapes = {tuple(t.shape.as_list()[1:]) for t in attention}
    if len(shapes) > 1:
        raise UserError(
            f"{name}: its attention blocks differ in shape ({', '.join(map(str, sorted(shapes)))});"
            " attention rollout needs one token count and head count throughout"
        )
    gradients = tf.gradients(score, list(attention))
    gradients = [tf.zeros_like(a) if g is None else g for a, g in zip(attention, gradients)]
    return {
        ATTENTION: tf.stack(list(attention), axis=1),
        ATTENTION_GRADIENTS: tf.stack(gradients, axis=1),
    }
