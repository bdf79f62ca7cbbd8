"""Explain any TensorFlow graph: a frozen GraphDef (.pb) or a SavedModel directory.

``GraphModel`` has the interface of ``gradcam.model.Model``, so every method, figure and command
works on it. Our own float pixel placeholder (N x S x S x 3 in [0, 255]) goes through the chosen
preprocessing's normalisation and is mapped onto the graph's input tensor at import time. The
graph is imported under the guided-backprop gradient override, so its Relu and Relu6 ops get the
guided-backprop gradients too (TensorFlow applies the override map to imported ops as well).
Other activations (e.g. swish, Relu inside fused ops) keep their plain gradients.
"""
from difflib import get_close_matches
from pathlib import Path

from gradcam.errors import UserError
from gradcam.labels import labels_for
from gradcam.model import GUIDED_OVERRIDES, Model
from gradcam.tf_compat import tf
from nets.nets_factory import NetworkSpec
from nets.preprocessing import get_preprocessing

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
    from tensorflow.core.protobuf import saved_model_pb2

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
    for flag, name in names.items():
        if name.split(":")[0] not in available:
            near = get_close_matches(name.split(":")[0], available, 5, 0.5)
            if not near and flag == "--input-tensor":
                near = [node.name for node in nodes if node.op == "Placeholder"][:5]
            hint = f"; close: {', '.join(near)}" if near else ""
            raise UserError(f"{flag} {name!r} is not in {source}{hint}")


def _check_outputs(names, graph):
    """UserError for the first tensor name whose op has no output of that index (``graph``: the
    GraphDef imported, so ops know their outputs)."""
    for flag, name in names.items():
        op_name, _, index = name.partition(":")
        count = len(graph.get_operation_by_name(op_name).outputs)
        if not index.isdigit() or int(index) >= count:
            use = {0: "", 1: f"; use {op_name}:0"}.get(count, f"; use {op_name}:0 to :{count - 1}")
            raise UserError(f"{flag} {name!r}: op {op_name!r} has {count} output"
                            f"{'' if count == 1 else 's'}{use}")


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
    name = names["--layer-tensor"]
    if layer.shape.ndims != 4:
        raise UserError(f"--layer-tensor {name!r} has shape {layer.shape}, need a "
                        "4-D feature map N x h x w x c")
    if layer.op not in feeds_logits:
        raise UserError(f"--layer-tensor {name!r}: the logits {names['--logits-tensor']!r} "
                        "do not depend on it; pick a layer on the way to the logits")
    if layer.op not in fed_by_input:
        raise UserError(f"--layer-tensor {name!r} does not depend on the input "
                        f"{names['--input-tensor']!r}")


class GraphModel(Model):
    """A frozen GraphDef or SavedModel explained through named tensors.

    Args:
        graph_path: a .pb file (frozen GraphDef) or a SavedModel directory.
        input_tensor: the graph's image input (float32, N x S x S x 3, already normalised).
        logits_tensor: pre-softmax class scores [N, C].
        layer_tensor: default 4-D feature map for CAM methods.
        preprocessing: a key of ``nets.preprocessing.PREPROCESSING`` (geometry + normalisation).
        image_size: S; default: the input tensor's static size.
        num_classes, labels, threads: as for ``Model``.
        tags: the SavedModel meta graph to load (ignored for a .pb).
    """

    def __init__(self, graph_path, input_tensor, logits_tensor, layer_tensor, preprocessing,
                 image_size=None, num_classes=None, labels=None, threads=None, tags=("serve",)):
        path = Path(graph_path)
        if not path.exists():
            raise UserError(f"graph not found: {graph_path}")
        names = {"--input-tensor": _tensor_name(input_tensor),
                 "--logits-tensor": _tensor_name(logits_tensor),
                 "--layer-tensor": _tensor_name(layer_tensor)}
        self.preprocessing = get_preprocessing(preprocessing)
        self.graph = tf.Graph()
        with self.graph.as_default(), self.graph.gradient_override_map(GUIDED_OVERRIDES):
            if path.is_dir():
                self._load_saved_model(path, names, image_size, tags, threads)
            else:
                self._load_frozen(path, names, image_size, threads)
            logits = self.graph.get_tensor_by_name(f"{SCOPE}/{names['--logits-tensor']}")
            self._set_classes(logits, num_classes, labels, path, names)
            self._build_output(logits)
        layer = self.graph.get_tensor_by_name(f"{SCOPE}/{names['--layer-tensor']}")
        feeds_logits = _reachable(logits.op, _inputs)
        fed_by_input = _reachable(self.images.op, _consumers)
        _check_layer(layer, names, feeds_logits, fed_by_input)
        on_path = feeds_logits & fed_by_input
        self.end_points = {self.spec.cam_layer: layer}
        self.end_points.update({op.name[len(SCOPE) + 1:]: op.outputs[0]
                                for op in self.graph.get_operations()
                                if op.name.startswith(SCOPE + "/") and op in on_path
                                and len(op.outputs) == 1
                                and op.outputs[0].shape.ndims == 4
                                and op.outputs[0].shape.as_list()[0] is None  # not weights
                                and op.outputs[0].dtype == tf.float32})
        self.layer()

    # -- loading ------------------------------------------------------------------------------
    def _input_size(self, shape, image_size, name):
        dims = shape.as_list() if shape.ndims is not None else None
        if dims is not None and (len(dims) != 4 or dims[3] not in (3, None)):
            raise UserError(f"--input-tensor {name!r} has shape {shape}, need N x S x S x 3")
        static = dims[1] if dims and dims[1] == dims[2] else None
        if image_size and static and image_size != static:
            raise UserError(f"--image-size {image_size} but {name!r} takes {static}x{static}")
        size = image_size or static
        if not size:
            raise UserError(f"{name!r} has no fixed size: pass --image-size")
        self.image_size = int(size)
        self._build_input()
        return self.preprocessing.normalize(self.images)

    def _load_frozen(self, path, names, image_size, threads):
        graph_def = _read_graph_def(path)
        _check_names(names, graph_def.node, str(path))
        normalized = self._mapped_input(graph_def, names, image_size)
        tf.import_graph_def(graph_def, {names["--input-tensor"]: normalized}, name=SCOPE)
        self.session = self._open_session(threads)

    def _load_saved_model(self, path, names, image_size, tags, threads):
        meta = _meta_graph(path, tags)
        _check_names(names, meta.graph_def.node, str(path))
        normalized = self._mapped_input(meta.graph_def, names, image_size)
        self.session = self._open_session(threads)
        try:
            tf.saved_model.loader.load(self.session, list(tags), str(path), import_scope=SCOPE,
                                       input_map={names["--input-tensor"]: normalized})
        except Exception as exc:  # unreadable variables: TF raises several types
            raise UserError(f"cannot load SavedModel {path}: {str(exc).splitlines()[0]}") from None

    def _mapped_input(self, graph_def, names, image_size):
        """Our pixel placeholder, normalised, shaped like the graph's input tensor."""
        with tf.Graph().as_default() as probe:
            tf.import_graph_def(graph_def, name="")
            _check_outputs(names, probe)
            placeholder = probe.get_tensor_by_name(names["--input-tensor"])
        if placeholder.dtype != tf.float32:
            raise UserError(f"--input-tensor {names['--input-tensor']!r} is {placeholder.dtype.name};"
                            " only float32 image inputs can be explained")
        return self._input_size(placeholder.shape, image_size, names["--input-tensor"])

    def _set_classes(self, logits, num_classes, labels, path, names):
        static = logits.shape.as_list()[-1] if logits.shape.ndims == 2 else None
        if logits.shape.ndims not in (None, 2):
            raise UserError(f"--logits-tensor {names['--logits-tensor']!r} has shape {logits.shape},"
                            " need N x num_classes")
        if num_classes and static and num_classes != static:
            raise UserError(f"--num-classes {num_classes} but {names['--logits-tensor']!r} has "
                            f"{static} classes")
        self.num_classes = int(num_classes or static or 0)
        if not self.num_classes:
            raise UserError(f"{names['--logits-tensor']!r} has no fixed class count: pass --num-classes")
        self.spec = NetworkSpec(path.name, None, None, self.preprocessing.name,
                                self.image_size, self.num_classes,
                                1 if self.num_classes == 1001 else 0,
                                names["--layer-tensor"].removesuffix(":0"))
        self.labels = list(labels) if labels is not None else labels_for(self.spec, self.num_classes)
        if len(self.labels) != self.num_classes:
            raise UserError(f"{len(self.labels)} labels given for a model with {self.num_classes} classes")
