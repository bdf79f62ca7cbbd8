"""Reading TensorFlow graphs (a frozen GraphDef .pb, a SavedModel's MetaGraphDef) and checking the
tensor names and shapes a user gives for them, each problem as one line naming the argument.

``gradcam.loaders.analysis`` decides what is what in the graph with these pieces, and
``gradcam.loaders.model_file`` builds the ``ClassifierGraph``.
"""

from difflib import get_close_matches
from pathlib import Path

from tensorflow.core.protobuf import saved_model_pb2  # noqa: I001

from gradcam.arrays import frame_shape
from gradcam.errors import UserError
from nets.tf_compat import tf  # first: TensorFlow's own import, quietly

SCOPE = "imported"  # name scope of the imported graph inside ours


def tensor_name(name):
    """ "op" -> "op:0"; "op:1" unchanged."""
    return name if ":" in name else f"{name}:0"


def read_graph_def(path):
    """The GraphDef of a frozen .pb file."""
    graph_def = tf.GraphDef()
    try:
        graph_def.ParseFromString(Path(path).read_bytes())
    except OSError as exc:
        raise UserError(f"cannot read graph {path}: {exc.strerror}") from None
    except Exception:  # protobuf's DecodeError
        raise UserError(f"{path} is not a frozen GraphDef (.pb) file") from None
    if not graph_def.node:
        raise UserError(f"{path} is not a frozen GraphDef (.pb) file (no nodes)")
    return graph_def


def read_saved_model(path):
    """The SavedModel proto of a SavedModel directory."""
    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    except OSError:
        raise UserError(f"{path} is not a SavedModel directory (no saved_model.pb)") from None
    except Exception:  # protobuf's DecodeError
        raise UserError(
            f"{path}/saved_model.pb is not a SavedModel (truncated or corrupt)"
        ) from None
    if not saved.meta_graphs:
        raise UserError(f"{path}/saved_model.pb holds no graph (truncated or corrupt)")
    return saved


def meta_graph(saved, path, tags):
    """The MetaGraphDef of a SavedModel proto with exactly ``tags``."""
    for meta in saved.meta_graphs:
        if set(meta.meta_info_def.tags) == set(tags):
            return meta
    found = [",".join(m.meta_info_def.tags) for m in saved.meta_graphs]
    raise UserError(
        f"SavedModel {path} has no graph tagged {','.join(tags)} (has: {'; '.join(found)})"
    )


def check_names(names, nodes, source):
    """UserError for the first tensor name not in ``nodes`` (a GraphDef's nodes), with close names
    (or, for the input, the graph's placeholders). ``names``: {argument: tensor name}."""
    available = [node.name for node in nodes]
    for argument, name in names.items():
        if name.split(":")[0] not in available:
            near = get_close_matches(name.split(":")[0], available, 5, 0.5)
            if not near and argument == "input_tensor":
                near = [node.name for node in nodes if node.op == "Placeholder"][:5]
            hint = f"; close: {', '.join(near)}" if near else ""
            raise UserError(f"{{argument}} {name!r} is not in {source}{hint}", argument)


def check_outputs(names, graph):
    """UserError for the first tensor name whose op has no output of that index (``graph``: the
    GraphDef imported, so ops know their outputs)."""
    for argument, name in names.items():
        op_name, _, index = name.partition(":")
        count = len(graph.get_operation_by_name(op_name).outputs)
        if not index.isdigit() or int(index) >= count:
            use = {0: "", 1: f"; use {op_name}:0"}.get(count, f"; use {op_name}:0 to :{count - 1}")
            raise UserError(
                f"{{argument}} {name!r}: op {op_name!r} has {count} output"
                f"{'' if count == 1 else 's'}{use}",
                argument,
            )


def check_layer(layer, name, logits_name, input_name, feeds_logits, fed_by_input, grids=()):
    """UserError unless ``layer`` is a 4-D map (or a token layer of ``grids``) on a path from the
    input to the logits."""
    if layer.shape.ndims == 3 and layer not in grids:
        raise UserError(
            f"layer {name!r} has shape {layer.shape}: tokens that make no patch grid; give "
            "their prefix-token count and grid ({argument})",
            "grid",
        )
    if layer.shape.ndims != 4 and layer not in grids:
        raise UserError(
            f"{{argument}} {name!r} has shape {layer.shape}, need a 4-D feature map N x h x w x c",
            "layer_tensor",
        )
    if layer.op not in feeds_logits:
        raise UserError(
            f"{{argument}} {name!r}: the logits {logits_name!r} "
            "do not depend on it; pick a layer on the way to the logits",
            "layer_tensor",
        )
    if layer.op not in fed_by_input:
        raise UserError(
            f"{{argument}} {name!r} does not depend on the input {input_name!r}", "layer_tensor"
        )


def input_size(placeholder, image_size, name, given=True):
    """(H, W) of the graph's N x H x W x 3 float32 image input (``image_size``, S or (H, W), where
    it has none). ``given``: the user named the input (errors then name that argument)."""
    what = "{argument} " if given else "the model's input "
    if placeholder.dtype != tf.float32:
        raise UserError(
            f"{what}{name!r} is {placeholder.dtype.name}; only float32 image inputs can be "
            "explained",
            "input_tensor" if given else None,
        )
    shape = placeholder.shape
    dims = shape.as_list() if shape.ndims is not None else None
    if dims is not None and (len(dims) != 4 or dims[3] not in (3, None)):
        raise UserError(
            f"{what}{name!r} has shape {shape}, need N x H x W x 3",
            "input_tensor" if given else None,
        )
    static = tuple(dims[1:3]) if dims else (None, None)
    wanted = frame_shape(image_size) if image_size else None
    if wanted and any(s is not None and s != w for s, w in zip(static, wanted)):
        shown = "x".join("?" if s is None else str(s) for s in static)
        raise UserError(
            f"{{argument}} {_size_text(image_size)} but {name!r} takes {shown} images",
            "image_size",
        )
    size = wanted or static
    if None in size:
        raise UserError(f"{name!r} has no fixed size: pass {{argument}}", "image_size")
    return int(size[0]), int(size[1])


def _size_text(image_size):
    return str(image_size) if isinstance(image_size, int) else "x".join(map(str, image_size))


def class_count(logits, num_classes, name):
    """C of logits [N, C] (``num_classes`` where it has none)."""
    static = logits.shape.as_list()[-1] if logits.shape.ndims == 2 else None
    if logits.shape.ndims not in (None, 2):
        raise UserError(
            f"{{argument}} {name!r} has shape {logits.shape}, need N x num_classes", "logits_tensor"
        )
    if num_classes and static and num_classes != static:
        raise UserError(
            f"{{argument}} {num_classes} but {name!r} has {static} classes", "num_classes"
        )
    if not (num_classes or static):
        raise UserError(f"{name!r} has no fixed class count: pass {{argument}}", "num_classes")
    return int(num_classes or static)
