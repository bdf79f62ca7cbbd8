"""What is what in a model's graph (``analyse`` a ``Source`` into ``Found``), on a throw-away import.

Found automatically, each with an override:
- input: the model's one image input (of a frozen graph: its one float32 4-D placeholder);
- logits: the pre-activation of the final softmax or sigmoid (a softmax fused into the last Dense
  and a separate Softmax layer both end in a Softmax op whose input is the logits); an output with
  neither is taken as softmax logits. A sigmoid head is multi-label: its probabilities are the
  sigmoid of each unit, and each unit is explained on its own;
- layers: of a Keras model every layer's 4-D output by its path ("backbone/c3"); of other graphs
  each name scope's output by the scope (".../classifier_1/backbone_1/c3_1/Relu" gives
  "backbone/c3": function wrappers, Keras 3's ``_N`` suffixes and the model's own scope removed);
  any 4-D tensor between input and logits by its tensor name too;
- token layers (``gradcam.loaders.tokens``): an N x T x C output of a vision transformer's
  layer, explained as the map of its T - k patch tokens on the patch grid; 4-D tensors computed
  from tokens that carry a token axis (attention projections N x T x heads x d, attention weights
  N x heads x T x T) are not maps and are not offered; nor are the tensors of windowed attention
  (Swin: windows of tokens folded into the batch, B*nW x T_w x C, ``tokens.windowed``), and a
  layer named that is one is refused;
- attention: each block's attention probabilities (a Softmax over the last axis of an
  N x heads x T x T tensor), input side first, for the attention methods; windowed attention is
  counted (``Found.windowed_attention``), not used: it attends within windows, not over the image;
- the default layer, from what the head reads: a convolutional model's feature map nearest to
  the logits (the map its global pooling or flatten reads); of a transformer whose head reads
  prefix tokens (a class token), the output of the last block's first normalisation (the patch
  tokens of later layers no longer reach the class token); of a head that pools every token,
  the token layer nearest to the logits. ``Found.default_reason`` says which;
- the CAM head: when the logits are a Dense layer of the global average pool of that map.
"""

import re
from collections import deque
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Optional

from gradcam.errors import UserError
from gradcam.loaders.graph_file import (
    check_layer,
    check_names,
    check_outputs,
    class_count,
    input_size,
    tensor_name,
)
from gradcam.loaders.sources import Source
from gradcam.loaders.tokens import (
    TokenGrid,
    inside_windows,
    is_token_axis_tensor,
    is_tokens,
    patch_grid,
    token_grid,
    windowed,
)
from nets.tf_compat import tf

HEAD_OPS = {"Softmax": "softmax", "LogSoftmax": "softmax", "Sigmoid": "sigmoid"}
# Activation ops without a guided-backprop rule (only Relu and Relu6 have one), as users name them.
UNGUIDED_OPS = {
    "Sigmoid": "sigmoid/swish",
    "Tanh": "tanh",
    "Erf": "gelu",
    "Elu": "elu",
    "Selu": "selu",
    "LeakyRelu": "leaky_relu",
    "Softplus": "softplus/mish",
    "Softsign": "softsign",
}
# Ops by which a head reads some tokens only (a class token), not a pool of all of them.
TOKEN_PICKS = {"StridedSlice", "Slice", "GatherV2", "Gather", "Split", "SplitV", "Unpack"}
_WRAPPER = re.compile(r"(Stateful)?PartitionedCall(_\d+)?$")
_SUFFIX = re.compile(r"_\d+$")


@dataclass(frozen=True, kw_only=True)
class Found:
    """What the analysis of a source decided, as tensor names of the source graph.

    ``layers``: {key: tensor name} of 4-D maps and token layers; ``tokens``: {tensor name:
    TokenGrid} of the token layers (only these are rewired through their map); ``attention``: tensor names of each
    block's attention probabilities; ``windowed_attention``: how many attention blocks attend
    within windows (Swin), left out of ``attention``; ``default_reason``: why the default layer
    is the default.
    """

    input: str
    size: tuple  # (H, W)
    logits: str
    activation: str
    classes: int
    layers: dict
    tokens: dict
    extra: dict
    default: str
    default_reason: str
    head_weights: Optional[tuple]
    attention: tuple
    attention_tokens: Optional[TokenGrid]
    unguided: tuple
    windowed_attention: int = 0
    windowed_layers: tuple = ()


def reachable(op, neighbours):
    """``op`` and every op reached from it by repeated ``neighbours(op)``."""
    seen, todo = {op}, [op]
    while todo:
        for other in neighbours(todo.pop()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def op_inputs(op):
    return [tensor.op for tensor in op.inputs]


def op_consumers(op):
    return [consumer for tensor in op.outputs for consumer in tensor.consumers()]


def through_identity(tensor):
    """The tensor an Identity chain copies (``tensor`` itself when it is not one)."""
    while tensor.op.type == "Identity":
        tensor = tensor.op.inputs[0]
    return tensor


def analyse(
    source: Source,
    path: Path,
    *,
    image_size=None,
    layer_tensor=None,
    input_tensor=None,
    logits_tensor=None,
    num_classes=None,
    tokens=None,
    grid=None,
) -> Found:
    """Input, logits, layers and default layer of ``source`` (overrides checked by name;
    ``tokens``/``grid``: the prefix-token count and patch grid (h, w) of token layers)."""
    overrides = {
        k: tensor_name(v)
        for k, v in (("input_tensor", input_tensor), ("logits_tensor", logits_tensor))
        if v
    }
    check_names(overrides, source.graph_def.node, str(path))
    with tf.Graph().as_default() as graph:
        try:
            tf.import_graph_def(source.graph_def, name="")
        except (ValueError, TypeError) as exc:
            raise UserError(
                f"{path}: the graph does not import ({str(exc).splitlines()[0]})"
            ) from None
        check_outputs(overrides, graph)
        images = _input(graph, overrides.get("input_tensor") or source.input, path)
        size = input_size(images, image_size, images.name, given=bool(input_tensor))
        logits, activation = _logits(graph, source, overrides.get("logits_tensor"), images, path)
        classes = class_count(logits, num_classes, logits.name)
        feeds_logits = reachable(logits.op, op_inputs)
        fed_by_input = reachable(images.op, op_consumers)
        _check_single_input(feeds_logits, images, path)
        on_path = (feeds_logits & fed_by_input) - {images.op}
        ops = [op for op in graph.get_operations() if op in on_path]
        windows = windowed(ops, images)
        token_tensors = [t for op in ops for t in op.outputs if is_tokens(t) and t not in windows]
        token_land = set()
        for tensor in token_tensors:
            if tensor.op not in token_land:
                token_land |= reachable(tensor.op, op_consumers)
        counts = {t.shape[1] for t in token_tensors}
        maps = [
            t
            for op in ops
            for t in op.outputs
            if _is_map(t)
            and t not in windows
            and not (op in token_land and is_token_axis_tensor(t, counts))
        ]
        patches = patch_grid(token_tensors, token_land, on_path)
        grids = {t: token_grid(t, patches, tokens, grid) for t in dict.fromkeys(token_tensors)}
        grids = {t: g for t, g in grids.items() if g is not None}
        candidates = maps + list(grids)
        layers = (
            _keras_layers(graph, source.layers, on_path, candidates)
            if source.layers
            else _scope_layers(candidates)
        )
        extra = {name: t for t in maps for name in _tensor_names(t)}
        inside = _keras_layers(graph, source.layers, on_path, windows) if source.layers else {}
        if layer_tensor and layer_tensor not in layers:  # a tensor name: checked, then a layer
            tensor = inside.get(layer_tensor)
            if tensor is None:
                tensor = _named_layer(graph, layers, layer_tensor, path)
            _check_not_windowed(tensor, windows, layer_tensor)
            check_layer(
                tensor,
                tensor_name(layer_tensor),
                logits.name,
                images.name,
                feeds_logits,
                fed_by_input,
                grids,
            )
            layer_tensor = tensor_name(layer_tensor).removesuffix(":0")
            layers[layer_tensor] = tensor
        attention = _attention(ops, counts, windows)
        windowed_attention = sum(t in windows for t in _attention(ops, None, set()))
        if layer_tensor:
            default, reason = layer_tensor, "named"
        else:
            default, reason = _found_layer(
                layers, logits, on_path, grids, attention, path, set(maps)
            )
        _check_grid(layers[default], token_tensors, grids, tokens, grid, default, path)
        return Found(
            input=images.name,
            size=size,
            logits=logits.name,
            activation=activation,
            classes=classes,
            layers={k: t.name for k, t in layers.items()},
            tokens={t.name: grids[t] for t in layers.values() if t in grids},
            extra={k: t.name for k, t in extra.items()},
            default=default,
            default_reason=reason,
            head_weights=_dense_head(logits, layers[default]),
            attention=tuple(t.name for t in attention),
            attention_tokens=_attention_tokens(attention, grids),
            unguided=tuple(
                dict.fromkeys(UNGUIDED_OPS[op.type] for op in ops if op.type in UNGUIDED_OPS)
            ),
            windowed_attention=windowed_attention,
            windowed_layers=tuple(k for k in inside if k not in layers),
        )


def _input(graph, name, path):
    if name:
        return graph.get_tensor_by_name(name)
    images = [
        op.outputs[0]
        for op in graph.get_operations()
        if op.type == "Placeholder"
        and op.outputs[0].dtype == tf.float32
        and op.outputs[0].shape.ndims in (None, 4)
    ]
    if len(images) == 1:
        return images[0]
    found = f"{len(images)} ({', '.join(t.op.name for t in images[:5])})" if images else "no"
    raise UserError(
        f"{path}: {found} float32 4-D placeholders; name the image input with {{argument}}",
        "input_tensor",
    )


def _pre_activation(tensor):
    """(logits, activation) of an output: the input of a final Softmax/Sigmoid (through
    Identity ops), or (the output, None)."""
    inner = through_identity(tensor)
    if inner.op.type in HEAD_OPS:
        return inner.op.inputs[0], HEAD_OPS[inner.op.type]
    return tensor, None


def _activation_after(logits):
    """ "sigmoid" when the graph applies a sigmoid (and no softmax) to ``logits``, else "softmax"."""
    seen = {op.type for op in reachable(logits.op, op_consumers) if op.type in HEAD_OPS}
    return "sigmoid" if seen == {"Sigmoid"} else "softmax"


def _logits(graph, source, name, images, path):
    """(logits tensor, head activation)."""
    if name:
        logits = graph.get_tensor_by_name(name)
        return logits, _activation_after(logits)
    if source.outputs is not None:
        outputs = {key: graph.get_tensor_by_name(n) for key, n in source.outputs.items()}
    else:  # the float [N, C] ends of the graph that the input feeds
        fed = reachable(images.op, op_consumers)
        outputs = {
            op.name: op.outputs[0]
            for op in graph.get_operations()
            if op in fed
            and op.outputs
            and not any(t.consumers() for t in op.outputs)
            and op.outputs[0].dtype == tf.float32
            and op.outputs[0].shape.ndims in (None, 2)
        }
    heads = {key: _pre_activation(t) for key, t in outputs.items()}
    with_head = {key: h for key, h in heads.items() if h[1] is not None}
    distinct = {h[0].name: h for h in (with_head or heads).values()}
    if len(distinct) == 1:
        logits, activation = next(iter(distinct.values()))
        return logits, activation or "softmax"
    if not distinct:
        raise UserError(
            f"{path}: no output of shape N x classes follows the input; name the "
            "logits with {argument}",
            "logits_tensor",
        )
    raise UserError(
        f"{path}: {len(distinct)} outputs ({', '.join(sorted(outputs))}); name the "
        "logits with {argument}",
        "logits_tensor",
    )


def _check_single_input(feeds_logits, images, path):
    others = sorted(
        op.name for op in feeds_logits if op.type == "Placeholder" and op is not images.op
    )
    if others:
        raise UserError(
            f"{path}: the logits also need the input{'s' * (len(others) > 1)} "
            f"{', '.join(others)}; only models with one image input can be explained"
        )


def _is_map(tensor):
    return tensor.dtype.is_floating and tensor.shape.ndims == 4


def _tensor_names(tensor):
    """The names a tensor answers to: "op:i", and "op" for output 0."""
    return [tensor.name] + ([tensor.op.name] if tensor.value_index == 0 else [])


def _keras_layers(graph, layers, on_path, candidates):
    """{layer path: tensor} of the Keras layers whose output (a traced function returns each
    through an Identity) is one of ``candidates`` (maps and token layers on the path)."""
    allowed = set(candidates)
    found = {}
    for key, name in layers.items():
        tensor = through_identity(graph.get_tensor_by_name(name))
        if tensor in allowed:
            found[key] = tensor
    return found


def _scope_layers(maps):
    """{layer path: tensor}: for each name scope, its last output used outside the scope."""
    by_scope = {}
    for tensor in maps:
        if tensor.op.name.startswith("Func/"):  # inlined functions' argument plumbing
            continue
        scope = tensor.op.name.rpartition("/")[0]
        if not scope or any(not c.name.startswith(scope + "/") for c in tensor.consumers()):
            by_scope[scope or tensor.op.name] = tensor
    keys = _layer_paths(list(by_scope))
    layers = {}
    for scope, key in zip(by_scope, keys):
        layers[key if key not in layers else scope] = by_scope[scope]
    return layers


def _layer_paths(scopes):
    """Layer paths of name scopes: function wrappers removed, Keras 3's ``_N`` name-scope
    suffixes removed (when every scope's model component has one), and the model's own
    outermost scope removed when all share it."""
    parts = []
    for scope in scopes:
        components = scope.split("/")
        while len(components) > 1 and _WRAPPER.match(components[0]):
            components = components[1:]
        parts.append(components)
    if parts and all(_SUFFIX.search(p[0]) for p in parts):
        parts = [[_SUFFIX.sub("", c) for c in p] for p in parts]
    if parts and all(len(p) > 1 and p[0] == parts[0][0] for p in parts):
        parts = [p[1:] for p in parts]
    return ["/".join(p) for p in parts]


def _found_layer(layers, logits, on_path, grids, attention, path, maps):
    """(key, reason) of the default layer, from what the head reads (see the module docstring):
    a token layer of ``grids`` or a spatial map of ``maps`` (not windowed, no token axis)."""
    tensor = _nearest(logits, on_path, lambda t: t in grids or (t in maps and _is_spatial_map(t)))
    if tensor is None:
        raise UserError(f"{path}: no 4-D feature map lies between the input and the logits")
    reason = "the feature map nearest to the logits"
    if tensor in grids:
        if _reads_some_tokens(logits, tensor, on_path):
            named = {t for t in layers.values() if t in grids}
            first_norm = _last_block_input(attention, named, on_path)
            if first_norm is not None:
                tensor = first_norm
                reason = (
                    "the head reads the class token: the last block's first normalisation "
                    "(later patch tokens never reach the class token)"
                )
            else:
                reason = "the head reads the class token; no attention block found before it"
        else:
            reason = "the head pools every token: the token layer nearest to the logits"
    key = _key_of(layers, tensor)
    return key, reason


def _key_of(layers, tensor):
    """The first key of ``layers`` for ``tensor`` (the innermost layer of a nested model; added
    by op name when no layer has it)."""
    key = next((k for k, t in layers.items() if t is tensor), tensor.op.name)
    layers.setdefault(key, tensor)
    return key


def _is_spatial_map(tensor):
    return _is_map(tensor) and all(d is None or d > 1 for d in tensor.shape.as_list()[1:3])


def _nearest(start, on_path, wanted):
    """The first tensor ``wanted`` accepts met walking back from ``start`` (its op's inputs)."""
    queue, seen = deque([start.op]), {start.op}
    while queue:
        for tensor in queue.popleft().inputs:
            if tensor.op in seen or tensor.op not in on_path:
                continue
            seen.add(tensor.op)
            if wanted(tensor):
                return tensor
            queue.append(tensor.op)
    return None


def _reads_some_tokens(logits, tokens, on_path):
    """True when the head picks tokens (a slice or gather on the way back from the logits to the
    token layer ``tokens``) rather than pooling all of them."""
    between = reachable(logits.op, op_inputs) & reachable(tokens.op, op_consumers) & on_path
    return any(op.type in TOKEN_PICKS for op in between if op is not tokens.op)


def _last_block_input(attention, token_layers, on_path):
    """The token layer (of ``token_layers``: named layers, not the ops inside them) nearest before
    the last attention block's probabilities: the output of that block's first normalisation,
    which its queries and keys read."""
    if not attention:
        return None
    return _nearest(attention[-1], on_path, lambda t: t in token_layers)


def _attention(ops, counts, windows):
    """Each block's attention probabilities (input side first): Softmax outputs N x heads x T x T
    over a token count T of ``counts`` (None: any T), not among ``windows``."""
    found = []
    for op in ops:
        if op.type != "Softmax" or op.outputs[0] in windows:
            continue
        dims = op.outputs[0].shape.as_list() if op.outputs[0].shape.ndims == 4 else None
        if dims and dims[2] is not None and dims[2] == dims[3]:
            if counts is None or dims[2] in counts:
                found.append(op.outputs[0])
    return found


def _check_not_windowed(tensor, windows, name):
    """UserError when the layer named ``name`` is inside windowed attention."""
    if tensor in windows:
        raise UserError(inside_windows(name, "{argument}"), "layer_tensor")


def _attention_tokens(attention, grids):
    """The layout of the tokens the attention blocks attend over (None without attention)."""
    counts = {t.shape[-1] for t in attention}
    return next((g for g in grids.values() if g.count in counts), None)


def _check_grid(tensor, token_tensors, grids, tokens, grid, name, path):
    """UserError when a token override was given that the explained layer (or, when it is not a
    token layer, every token layer) cannot take: never a silent fallback to another layer."""
    if tokens is None and grid is None:
        return
    given = f"{tokens} prefix tokens" if tokens is not None else "prefix tokens"
    shape = f" and a {grid[0]}x{grid[1]} grid" if grid is not None else " and a patch grid"
    if is_tokens(tensor) and tensor not in grids:
        raise UserError(
            f"layer {name!r} has {tensor.shape[1]} tokens: not {given}{shape} ({{argument}})",
            _given(tokens),
        )
    if not grids and token_tensors:
        counts = "/".join(str(c) for c in sorted({t.shape[1] for t in token_tensors}))
        raise UserError(
            f"no token layer of {path} has {given}{shape} ({{argument}}): its token layers have "
            f"{counts} tokens",
            _given(tokens),
        )
    if not token_tensors:
        raise UserError(f"{path} has no token layers: {{argument}} does not apply", _given(tokens))


def _given(tokens):
    return "tokens" if tokens is not None else "grid"


def _named_layer(graph, layers, name, path):
    """The tensor of a layer override given by tensor name (UserError with close layer paths and
    tensor names when it is neither)."""
    full = tensor_name(name)
    try:
        operation = graph.get_operation_by_name(full.split(":")[0])
    except KeyError:
        names = list(layers) + [op.name for op in graph.get_operations()]
        near = get_close_matches(name, names, 5, 0.5)
        hint = f"; close: {', '.join(near)}" if near else ""
        raise UserError(f"{{argument}} {full!r} is not in {path}{hint}", "layer_tensor") from None
    check_outputs({"layer_tensor": full}, graph)
    return operation.outputs[int(full.split(":")[1])]


def _dense_head(logits, layer):
    """(weights tensor name, transposed) when ``logits`` = MatMul(mean over h, w of ``layer``,
    constant weights) (+ bias): the head CAM needs; else None."""
    tensor = through_identity(logits)
    if tensor.op.type in ("BiasAdd", "AddV2", "Add"):
        tensor = through_identity(tensor.op.inputs[0])
    if tensor.op.type != "MatMul" or tensor.op.get_attr("transpose_a"):
        return None
    pooled, weights = (through_identity(t) for t in tensor.op.inputs)
    if weights.op.type != "Const" or pooled.op.type != "Mean" or pooled.op.get_attr("keep_dims"):
        return None
    axes = through_identity(pooled.op.inputs[1])
    if axes.op.type != "Const":
        return None
    if sorted(tf.make_ndarray(axes.op.get_attr("value")).ravel()) != [1, 2]:
        return None
    if through_identity(pooled.op.inputs[0]) is not through_identity(layer):
        return None
    return tensor.op.inputs[1].name, bool(tensor.op.get_attr("transpose_b"))
