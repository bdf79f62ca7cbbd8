"""Any TensorFlow graph as a ``ClassifierGraph``: a frozen GraphDef (.pb) or a SavedModel directory.

Our own float pixel placeholder (N x S x S x 3 in [0, 255]) goes through the chosen
preprocessing's normalisation and is mapped onto the graph's input tensor at import time. The
graph is imported under the guided-backprop gradient override, so its Relu and Relu6 ops get the
guided-backprop gradients too (TensorFlow applies the override map to imported ops as well).
Other activations (e.g. swish, Relu inside fused ops) keep their plain gradients.
"""
from difflib import get_close_matches
from pathlib import Path

from gradcam.errors import UserError
from gradcam.graph import ClassifierGraph, building
from gradcam.preprocessing import get_preprocessing
from nets.tf_compat import tf  # first: TensorFlow's own import, quietly
from tensorflow.core.protobuf import saved_model_pb2  # noqa: I001

SCOPE = "imported"


def _tensor_name(name):
    return name if ":" in name else f"{name}:0"


def _read_graph_def(path):
    graph_def = tf.GraphDef()
    try:
        graph_def.ParseFromString(Path(path).read_bytes())
    except OSError as exc:
        raise UserError(f"cannot read graph {path}: {exc.strerror}") from None
    except Exception:  # protobuf's DecodeError
        raise UserError(f"{path} is not a frozen GraphDef (.pb) file") from None
    return graph_def


def _meta_graph(path, tags):
    """The MetaGraphDef of a SavedModel directory with exactly ``tags``."""
    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
    except OSError:
        raise UserError(f"{path} is not a SavedModel directory (no saved_model.pb)") from None
    except Exception:  # protobuf's DecodeError
        raise UserError(f"{path}/saved_model.pb is not a SavedModel") from None
    for meta in saved.meta_graphs:
        if set(meta.meta_info_def.tags) == set(tags):
            return meta
    found = [",".join(m.meta_info_def.tags) for m in saved.meta_graphs]
    raise UserError(f"SavedModel {path} has no graph tagged {','.join(tags)} (has: {'; '.join(found)})")


def _check_names(names, nodes, source):
    """UserError for the first tensor name not in ``nodes`` (a GraphDef's nodes), with close names
    (or, for the input, the graph's placeholders)."""
    available = [node.name for node in nodes]
    for argument, name in names.items():
        if name.split(":")[0] not in available:
            near = get_close_matches(name.split(":")[0], available, 5, 0.5)
            if not near and argument == "input_tensor":
                near = [node.name for node in nodes if node.op == "Placeholder"][:5]
            hint = f"; close: {', '.join(near)}" if near else ""
            raise UserError(f"{{argument}} {name!r} is not in {source}{hint}", argument)


def _check_outputs(names, graph):
    """UserError for the first tensor name whose op has no output of that index (``graph``: the
    GraphDef imported, so ops know their outputs)."""
    for argument, name in names.items():
        op_name, _, index = name.partition(":")
        count = len(graph.get_operation_by_name(op_name).outputs)
        if not index.isdigit() or int(index) >= count:
            use = {0: "", 1: f"; use {op_name}:0"}.get(count, f"; use {op_name}:0 to :{count - 1}")
            raise UserError(f"{{argument}} {name!r}: op {op_name!r} has {count} output"
                            f"{'' if count == 1 else 's'}{use}", argument)


def _reachable(op, neighbours):
    """``op`` and every op reached from it by repeated ``neighbours(op)``."""
    seen, todo = {op}, [op]
    while todo:
        for other in neighbours(todo.pop()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def _inputs(op):
    return [tensor.op for tensor in op.inputs]


def _consumers(op):
    return [consumer for tensor in op.outputs for consumer in tensor.consumers()]


def _check_layer(layer, names, feeds_logits, fed_by_input):
    """UserError unless ``layer`` is a 4-D map on a path from our input to the logits."""
    name = names["layer_tensor"]
    if layer.shape.ndims != 4:
        raise UserError(f"{{argument}} {name!r} has shape {layer.shape}, need a "
                        "4-D feature map N x h x w x c", "layer_tensor")
    if layer.op not in feeds_logits:
        raise UserError(f"{{argument}} {name!r}: the logits {names['logits_tensor']!r} "
                        "do not depend on it; pick a layer on the way to the logits", "layer_tensor")
    if layer.op not in fed_by_input:
        raise UserError(f"{{argument}} {name!r} does not depend on the input "
                        f"{names['input_tensor']!r}", "layer_tensor")




def _input_size(placeholder, image_size, name):
    """S of the graph's N x S x S x 3 float32 image input (``image_size`` where it has none)."""
    if placeholder.dtype != tf.float32:
        raise UserError(f"{{argument}} {name!r} is {placeholder.dtype.name}; only float32 image "
                        "inputs can be explained", "input_tensor")
    shape = placeholder.shape
    dims = shape.as_list() if shape.ndims is not None else None
    if dims is not None and (len(dims) != 4 or dims[3] not in (3, None)):
        raise UserError(f"{{argument}} {name!r} has shape {shape}, need N x S x S x 3", "input_tensor")
    static = dims[1] if dims and dims[1] == dims[2] else None
    if image_size and static and image_size != static:
        raise UserError(f"{{argument}} {image_size} but {name!r} takes {static}x{static}", "image_size")
    if not (image_size or static):
        raise UserError(f"{name!r} has no fixed size: pass {{argument}}", "image_size")
    return int(image_size or static)


def _probe(graph_def, names):
    """The graph's input placeholder, from a throw-away import that also checks output indices."""
    with tf.Graph().as_default() as probe:
        tf.import_graph_def(graph_def, name="")
        _check_outputs(names, probe)
        return probe.get_tensor_by_name(names["input_tensor"])


def _class_count(logits, num_classes, name):
    static = logits.shape.as_list()[-1] if logits.shape.ndims == 2 else None
    if logits.shape.ndims not in (None, 2):
        raise UserError(f"{{argument}} {name!r} has shape {logits.shape}, need N x num_classes",
                        "logits_tensor")
    if num_classes and static and num_classes != static:
        raise UserError(f"{{argument}} {num_classes} but {name!r} has {static} classes", "num_classes")
    if not (num_classes or static):
        raise UserError(f"{name!r} has no fixed class count: pass {{argument}}", "num_classes")
    return int(num_classes or static)


def _explainable_layers(graph, images, logits, layer, layer_name):
    """The named layer first, then every 4-D float map on a path from the input to the logits."""
    feeds_logits = _reachable(logits.op, _inputs)
    fed_by_input = _reachable(images.op, _consumers)
    on_path = feeds_logits & fed_by_input
    layers = {layer_name: layer}
    layers.update({op.name[len(SCOPE) + 1:]: op.outputs[0] for op in graph.get_operations()
                   if op.name.startswith(SCOPE + "/") and op in on_path and len(op.outputs) == 1
                   and op.outputs[0].shape.ndims == 4
                   and op.outputs[0].shape.as_list()[0] is None  # not weights
                   and op.outputs[0].dtype == tf.float32})
    return layers, feeds_logits, fed_by_input


def load_graph_file(path, *, input_tensor, logits_tensor, layer_tensor, preprocessing,
                    image_size=None, num_classes=None, tags=("serve",)):
    """``ClassifierGraph`` of a frozen GraphDef (.pb file) or a SavedModel directory.

    Args:
        path: a .pb file or a SavedModel directory.
        input_tensor: the graph's image input (float32, N x S x S x 3, already normalised).
        logits_tensor: pre-softmax class scores [N, C].
        layer_tensor: default 4-D feature map for the CAM family.
        preprocessing: a key of ``gradcam.preprocessing.PREPROCESSING`` (geometry + normalisation).
        image_size: S; default: the input tensor's static size.
        num_classes: C; default: the logits' static size.
        tags: the SavedModel meta graph to load (ignored for a .pb).
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"graph not found: {path}")
    names = {"input_tensor": _tensor_name(input_tensor), "logits_tensor": _tensor_name(logits_tensor),
             "layer_tensor": _tensor_name(layer_tensor)}
    prep = get_preprocessing(preprocessing)
    meta = _meta_graph(path, tags) if path.is_dir() else None
    graph_def = meta.graph_def if meta is not None else _read_graph_def(path)
    _check_names(names, graph_def.node, str(path))
    size = _input_size(_probe(graph_def, names), image_size, names["input_tensor"])
    graph = tf.Graph()
    with building(graph):
        images = tf.placeholder(tf.float32, [None, size, size, 3], name="images")
        input_map = {names["input_tensor"]: prep.normalize(images)}
        if meta is None:
            tf.import_graph_def(graph_def, input_map, name=SCOPE)
            saver = None
        else:
            saver = tf.train.import_meta_graph(meta, import_scope=SCOPE, input_map=input_map)
        imported = graph.get_tensor_by_name(f"{SCOPE}/{names['logits_tensor']}")
        classes = _class_count(imported, num_classes, names["logits_tensor"])
        logits = tf.reshape(imported, [-1, classes])
    layer = graph.get_tensor_by_name(f"{SCOPE}/{names['layer_tensor']}")
    layer_name = names["layer_tensor"].removesuffix(":0")
    layers, feeds_logits, fed_by_input = _explainable_layers(graph, images, imported, layer, layer_name)
    _check_layer(layer, names, feeds_logits, fed_by_input)

    def restore(session):
        if saver is None:
            return
        try:
            saver.restore(session, str(path / "variables" / "variables"))
        except Exception as exc:  # unreadable variables: TF raises several types
            raise UserError(f"cannot load SavedModel {path}: {str(exc).splitlines()[0]}") from None

    return ClassifierGraph(
        graph=graph, images=images, logits=logits, layers=layers, default_layer=layer_name, name=path.name, preprocessing=prep,
        label_offset=1 if classes == 1001 else 0, restore=restore, source=str(path))
