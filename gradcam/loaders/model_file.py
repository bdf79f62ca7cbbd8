"""Any model file as a ``ClassifierGraph``: a Keras 2 ``.h5``, a Keras 3 (or tf-keras) ``.keras``,
a SavedModel directory (TF2 or TF1) or a frozen GraphDef ``.pb``.

A Keras file is checked for code before anything of it is loaded (``keras_config``); Keras models
and TF2 SavedModels are traced and frozen into a GraphDef in eager mode (``keras_trace``); a TF1
SavedModel is imported with its variables, a frozen graph as it is. Every source then becomes part
of one TF1 graph: our float pixel placeholder (N x S x S x 3 in [0, 255]) goes through the chosen
preprocessing (default "raw": pixels go in unchanged, since Keras models carry their own
Rescaling/normalisation layers) into the model's input (``input_map`` at import), under the
guided-backprop gradient override (TensorFlow applies it to imported Relu and Relu6 ops too). The
nesting of a Keras model disappears there: a layer of a backbone inside the classifier is a tensor
of the graph like any other, which is where gradient tapes on Keras models break ("Graph
disconnected").

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
- the default layer: the 4-D feature map (h, w > 1) nearest to the logits walking back from them,
  i.e. the map a classifier's global pooling (or flatten) reads;
- the CAM head: when the logits are a Dense layer of the global average pool of that map.

Custom gradients (``tf.custom_gradient``, e.g. TensorFlow's swish) are Python functions, not part
of a graph: a frozen graph keeps only a marker naming them (``_gradient_op_type`` on an IdentityN
op). The markers are removed at import, so those ops get TensorFlow's own gradients of the forward
ops (for swish the same derivative, computed from its Mul and Sigmoid ops).
"""

import re
from collections import deque
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Optional

from gradcam.errors import UserError
from gradcam.graph import ClassifierGraph, building
from gradcam.loaders.graph_file import (
    SCOPE,
    check_layer,
    check_names,
    check_outputs,
    class_count,
    input_size,
    meta_graph,
    op_consumers,
    op_inputs,
    reachable,
    read_graph_def,
    read_saved_model,
    tensor_name,
)
from gradcam.loaders.keras_config import (
    HDF5_SIGNATURE,
    ZIP_SIGNATURE,
    check_trusted,
    file_signature,
    read_keras_file,
)
from gradcam.loaders.keras_trace import SIGNATURE, freeze_keras, freeze_saved_model
from gradcam.preprocessing import get_preprocessing
from nets.tf_compat import tf

DEFAULT_PREPROCESSING = "raw"
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")
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
_WRAPPER = re.compile(r"(Stateful)?PartitionedCall(_\d+)?$")
_SUFFIX = re.compile(r"_\d+$")


@dataclass
class Source:
    """A model file read as a graph: ``graph_def``; its image ``input`` and ``outputs`` tensor
    names where the file says (None: found in the graph); Keras ``layers`` {path: tensor name};
    ``meta``: a TF1 SavedModel's MetaGraphDef, whose variables are restored from ``variables``."""

    graph_def: object
    input: Optional[str]
    outputs: Optional[dict]
    layers: dict = field(default_factory=dict)
    meta: object = None
    variables: Optional[str] = None


@dataclass
class Found:
    """What the analysis of a source decided, as tensor names of the source graph."""

    input: str
    size: int
    logits: str
    activation: str
    classes: int
    layers: dict
    extra: dict
    default: str
    head_weights: Optional[tuple]
    unguided: tuple


def read_source(path: Path, trust_code: bool = False, tags=("serve",)) -> Source:
    """The graph of a model file or SavedModel directory (Keras files checked for code first)."""
    if path.is_dir():
        return _saved_model_source(path, tags)
    head = file_signature(path)
    if not head:
        raise UserError(f"{path} is empty")
    if head.startswith((HDF5_SIGNATURE, ZIP_SIGNATURE)) or path.suffix.lower() in KERAS_SUFFIXES:
        keras_file = read_keras_file(path)
        check_trusted(keras_file, trust_code)
        frozen = freeze_keras(keras_file, trust_code)
        return Source(frozen.graph_def, frozen.input, frozen.outputs, frozen.layers)
    return Source(read_graph_def(path), None, None)


def _saved_model_source(path, tags):
    saved = read_saved_model(path)
    if any(meta.object_graph_def.nodes for meta in saved.meta_graphs):  # TF2: functions
        frozen = freeze_saved_model(path)
        return Source(frozen.graph_def, frozen.input, frozen.outputs)
    meta = meta_graph(saved, path, tags)
    signature = meta.signature_def.get(SIGNATURE)
    inputs = [info.name for info in signature.inputs.values()] if signature else []
    outputs = {key: info.name for key, info in signature.outputs.items()} if signature else None
    return Source(
        meta.graph_def,
        inputs[0] if len(inputs) == 1 else None,
        outputs or None,
        meta=meta,
        variables=str(path / "variables" / "variables"),
    )


# -- analysis, on a throw-away import of the source graph -------------------------------------
def analyse(
    source: Source,
    path: Path,
    *,
    image_size=None,
    layer_tensor=None,
    input_tensor=None,
    logits_tensor=None,
    num_classes=None,
) -> Found:
    """Input, logits, layers and default layer of ``source`` (overrides checked by name)."""
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
        size = input_size(images, image_size, images.name)
        logits, activation = _logits(graph, source, overrides.get("logits_tensor"), images, path)
        classes = class_count(logits, num_classes, logits.name)
        feeds_logits = reachable(logits.op, op_inputs)
        fed_by_input = reachable(images.op, op_consumers)
        _check_single_input(feeds_logits, images, path)
        on_path = (feeds_logits & fed_by_input) - {images.op}
        maps = [
            t for op in graph.get_operations() if op in on_path for t in op.outputs if _is_map(t)
        ]
        layers = (
            _keras_layers(graph, source.layers, on_path) if source.layers else _scope_layers(maps)
        )
        extra = {name: t for t in maps for name in _tensor_names(t)}
        if layer_tensor and layer_tensor not in layers:  # a tensor name: checked, then a layer
            tensor = _named_layer(graph, layers, layer_tensor, path)
            check_layer(
                tensor,
                tensor_name(layer_tensor),
                logits.name,
                images.name,
                feeds_logits,
                fed_by_input,
            )
            layer_tensor = tensor_name(layer_tensor).removesuffix(":0")
            layers[layer_tensor] = tensor
        default = layer_tensor or _found_layer(layers, logits, on_path, path)
        return Found(
            images.name,
            size,
            logits.name,
            activation,
            classes,
            {k: t.name for k, t in layers.items()},
            {k: t.name for k, t in extra.items()},
            default,
            _dense_head(logits, layers[default]),
            tuple(
                dict.fromkeys(
                    UNGUIDED_OPS[op.type]
                    for op in graph.get_operations()
                    if op in on_path and op.type in UNGUIDED_OPS
                )
            ),
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
    inner = tensor
    while inner.op.type == "Identity":
        inner = inner.op.inputs[0]
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


def _on_path(tensor, on_path):
    """The tensor on the input-to-logits path that ``tensor`` copies (a traced function returns
    each layer's output through an Identity), or None."""
    while tensor.op not in on_path and tensor.op.type == "Identity":
        tensor = tensor.op.inputs[0]
    return tensor if tensor.op in on_path and _is_map(tensor) else None


def _keras_layers(graph, layers, on_path):
    """{layer path: tensor} of the Keras layers whose output lies between input and logits."""
    found = {key: _on_path(graph.get_tensor_by_name(name), on_path) for key, name in layers.items()}
    return {key: t for key, t in found.items() if t is not None}


def _scope_layers(maps):
    """{layer path: tensor}: for each name scope, its last 4-D output used outside the scope."""
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


def _found_layer(layers, logits, on_path, path):
    """The key of the map nearest to the logits in ``layers`` (its first key: the innermost
    layer of a nested model; added by op name when no layer has it)."""
    tensor = _nearest_map(logits, on_path)
    if tensor is None:
        raise UserError(f"{path}: no 4-D feature map lies between the input and the logits")
    key = next((k for k, t in layers.items() if t is tensor), tensor.op.name)
    layers.setdefault(key, tensor)
    return key


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


def _nearest_map(logits, on_path):
    """The first 4-D map with h, w > 1 (or unknown) met walking back from the logits."""
    queue, seen = deque([logits.op]), {logits.op}
    while queue:
        for tensor in queue.popleft().inputs:
            if tensor.op in seen or tensor.op not in on_path:
                continue
            seen.add(tensor.op)
            if _is_map(tensor) and all(d is None or d > 1 for d in tensor.shape.as_list()[1:3]):
                return tensor
            queue.append(tensor.op)
    return None


def _through_identity(tensor):
    while tensor.op.type == "Identity":
        tensor = tensor.op.inputs[0]
    return tensor


def _dense_head(logits, layer):
    """(weights tensor name, transposed) when ``logits`` = MatMul(mean over h, w of ``layer``,
    constant weights) (+ bias): the head CAM needs; else None."""
    tensor = _through_identity(logits)
    if tensor.op.type in ("BiasAdd", "AddV2", "Add"):
        tensor = _through_identity(tensor.op.inputs[0])
    if tensor.op.type != "MatMul" or tensor.op.get_attr("transpose_a"):
        return None
    pooled, weights = (_through_identity(t) for t in tensor.op.inputs)
    if weights.op.type != "Const" or pooled.op.type != "Mean" or pooled.op.get_attr("keep_dims"):
        return None
    axes = _through_identity(pooled.op.inputs[1])
    if axes.op.type != "Const" or sorted(tf.make_ndarray(axes.op.get_attr("value")).ravel()) != [
        1,
        2,
    ]:
        return None
    if _through_identity(pooled.op.inputs[0]) is not _through_identity(layer):
        return None
    return tensor.op.inputs[1].name, bool(tensor.op.get_attr("transpose_b"))


# -- the ClassifierGraph ------------------------------------------------------------------------
def load_model_file(
    path,
    *,
    trust_code: bool = False,
    image_size: Optional[int] = None,
    preprocessing: Optional[str] = None,
    layer_tensor: Optional[str] = None,
    input_tensor: Optional[str] = None,
    logits_tensor: Optional[str] = None,
    num_classes: Optional[int] = None,
    tags=("serve",),
) -> ClassifierGraph:
    """``ClassifierGraph`` of a Keras .h5/.keras file, a SavedModel directory or a frozen .pb.

    Args:
        path: the file or SavedModel directory.
        trust_code: load Keras files whose config holds Lambda layers or custom objects (their
            stored code then runs); refused otherwise, before anything is loaded.
        image_size: S, where the model's input has no fixed size.
        preprocessing: a key of ``gradcam.preprocessing.PREPROCESSING`` (default "raw": pixels
            0-255 go in unchanged).
        layer_tensor: the default layer (a layer path or a tensor name); default: found.
        input_tensor, logits_tensor: tensor names overriding what is found.
        num_classes: C, where the logits have no fixed size.
        tags: the meta graph of a TF1 SavedModel.

    Raises:
        UserError: a missing, corrupt or untrusted file, or a model that cannot be explained.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"model file not found: {path}")
    prep = get_preprocessing(preprocessing or DEFAULT_PREPROCESSING)
    source = read_source(path, trust_code, tags)
    _plain_gradients(source.graph_def)
    found = analyse(
        source,
        path,
        image_size=image_size,
        layer_tensor=layer_tensor,
        input_tensor=input_tensor,
        logits_tensor=logits_tensor,
        num_classes=num_classes,
    )
    graph = tf.Graph()
    with building(graph):
        images = tf.placeholder(tf.float32, [None, found.size, found.size, 3], name="images")
        input_map = {found.input: prep.normalize(images)}
        if source.meta is None:
            tf.import_graph_def(source.graph_def, input_map, name=SCOPE)
            saver = None
        else:
            saver = tf.train.import_meta_graph(source.meta, import_scope=SCOPE, input_map=input_map)

        def imported(name):
            return graph.get_tensor_by_name(f"{SCOPE}/{name}")

        logits = tf.reshape(imported(found.logits), [-1, found.classes])
        head = None
        if found.head_weights is not None:
            weights, transposed = found.head_weights
            head = tf.transpose(imported(weights)) if transposed else imported(weights)
    return ClassifierGraph(
        graph=graph,
        images=images,
        logits=logits,
        layers={k: imported(n) for k, n in found.layers.items()},
        default_layer=found.default,
        name=path.name,
        preprocessing=prep,
        label_offset=1 if found.classes == 1001 else 0,
        head_weights=head,
        restore=_restore(saver, source, path),
        source=str(path),
        activation=found.activation,
        extra_layers={k: imported(n) for k, n in found.extra.items()},
        unguided=found.unguided,
    )


def _plain_gradients(graph_def):
    """Remove custom-gradient markers (see the module docstring) from ``graph_def``, in place."""
    for node in graph_def.node:
        if "_gradient_op_type" in node.attr:
            del node.attr["_gradient_op_type"]


def _restore(saver, source, path):
    def restore(session):
        if saver is None:
            return
        try:
            saver.restore(session, source.variables)
        except Exception as exc:  # unreadable variables: TF raises several types
            raise UserError(f"cannot load SavedModel {path}: {str(exc).splitlines()[0]}") from None

    return restore
