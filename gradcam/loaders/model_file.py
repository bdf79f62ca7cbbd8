"""Any model file, or a live Keras model, as a ``ClassifierGraph``: a Keras 2 ``.h5``, a Keras 3 (or
tf-keras) ``.keras``, a SavedModel directory (TF2 or TF1), a frozen GraphDef ``.pb``, or a
``keras.Model`` / ``tf_keras`` model object.

A Keras file is checked for code before anything of it is loaded (``keras_config``); Keras models
and TF2 SavedModels are traced and frozen into a GraphDef in eager mode (``keras_trace``); a TF1
SavedModel is imported with its variables, a frozen graph as it is (``sources``). What is what in
the graph is decided by ``analysis``; token layers of transformers become maps (``tokens``). Every
source then becomes part of one TF1 graph: our float pixel placeholder (N x H x W x 3 in
[0, 255]) goes through the chosen preprocessing (default "raw": pixels go in unchanged, since Keras
models carry their own Rescaling/normalisation layers) into the model's input (``input_map`` at
import), under the guided-backprop gradient override (TensorFlow applies it to imported Relu and
Relu6 ops too). The nesting of a Keras model disappears there: a layer of a backbone inside the
classifier is a tensor of the graph like any other, which is where gradient tapes on Keras models
break ("Graph disconnected").

Custom gradients (``tf.custom_gradient``, e.g. TensorFlow's swish) are Python functions, not part
of a graph: a frozen graph keeps only a marker naming them (``_gradient_op_type`` on an IdentityN
op). The markers are removed at import, so those ops get TensorFlow's own gradients of the forward
ops (for swish the same derivative, computed from its Mul and Sigmoid ops).
"""

from pathlib import Path
from typing import Optional

from gradcam.errors import UserError
from gradcam.graph import ClassifierGraph, building
from gradcam.loaders.analysis import analyse
from gradcam.loaders.graph_file import SCOPE
from gradcam.loaders.sources import keras_model_source, read_source
from gradcam.loaders.tokens import as_maps
from gradcam.preprocessing import get_preprocessing
from nets.tf_compat import tf

DEFAULT_PREPROCESSING = "raw"


def load_model_file(
    path,
    *,
    trust_code: bool = False,
    image_size=None,
    preprocessing: Optional[str] = None,
    layer_tensor: Optional[str] = None,
    input_tensor: Optional[str] = None,
    logits_tensor: Optional[str] = None,
    num_classes: Optional[int] = None,
    tokens: Optional[int] = None,
    grid: Optional[tuple] = None,
    tags=("serve",),
) -> ClassifierGraph:
    """``ClassifierGraph`` of a Keras .h5/.keras file, a SavedModel directory or a frozen .pb.

    Args:
        path: the file or SavedModel directory.
        trust_code: load Keras files whose config holds Lambda layers or custom objects (their
            stored code then runs); refused otherwise, before anything is loaded.
        image_size: S or (H, W), where the model's input has no fixed size.
        preprocessing: a key of ``gradcam.preprocessing.PREPROCESSING`` (default "raw": pixels
            0-255 go in unchanged).
        layer_tensor: the default layer (a layer path or a tensor name); default: found.
        input_tensor, logits_tensor: tensor names overriding what is found.
        num_classes: C, where the logits have no fixed size.
        tokens, grid: of token layers (N x T x C), the prefix-token count k and the patch grid
            (h, w) with k + h * w = T; default: found (``gradcam.loaders.tokens``).
        tags: the meta graph of a TF1 SavedModel.

    Raises:
        UserError: a missing, corrupt or untrusted file, or a model that cannot be explained.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"model file not found: {path}")
    source = read_source(path, trust_code, tags)
    return _classifier_graph(
        source,
        path,
        str(path),
        preprocessing,
        image_size=image_size,
        layer_tensor=layer_tensor,
        input_tensor=input_tensor,
        logits_tensor=logits_tensor,
        num_classes=num_classes,
        tokens=tokens,
        grid=grid,
    )


def load_keras_model(
    model,
    *,
    name: Optional[str] = None,
    preprocessing: Optional[str] = None,
    layer_tensor: Optional[str] = None,
    num_classes: Optional[int] = None,
    tokens: Optional[int] = None,
    grid: Optional[tuple] = None,
) -> ClassifierGraph:
    """``ClassifierGraph`` of a live Keras 3 or tf-keras model, traced the same way as a file's
    (its layers are left as they were). Arguments as for ``load_model_file``."""
    name = name or getattr(model, "name", None) or "keras model"
    return _classifier_graph(
        keras_model_source(model, name),
        name,
        None,
        preprocessing,
        layer_tensor=layer_tensor,
        num_classes=num_classes,
        tokens=tokens,
        grid=grid,
    )


def _classifier_graph(source, path, origin, preprocessing, **overrides):
    prep = get_preprocessing(preprocessing or DEFAULT_PREPROCESSING)
    _plain_gradients(source.graph_def)
    found = analyse(source, Path(str(path)), **overrides)
    graph_def, maps, prefixes = as_maps(source.graph_def, found.tokens)
    graph = tf.Graph()
    with building(graph):
        images = tf.placeholder(tf.float32, [None, *found.size, 3], name="images")
        input_map = {found.input: prep.normalize(images)}
        if source.meta is None:
            tf.import_graph_def(graph_def, input_map, name=SCOPE)
            saver = None
        else:
            saver = tf.train.import_meta_graph(source.meta, import_scope=SCOPE, input_map=input_map)

        def imported(name):
            return graph.get_tensor_by_name(f"{SCOPE}/{maps.get(name, name)}")

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
        default_reason=found.default_reason,
        name=Path(str(path)).name,
        preprocessing=prep,
        label_offset=1 if found.classes == 1001 else 0,
        head_weights=head,
        restore=_restore(saver, source, path),
        source=origin,
        activation=found.activation,
        extra_layers={k: imported(n) for k, n in found.extra.items()},
        tokens={k: found.tokens[n] for k, n in found.layers.items() if n in found.tokens},
        prefixes={
            k: graph.get_tensor_by_name(f"{SCOPE}/{prefixes[n]}")
            for k, n in found.layers.items()
            if n in prefixes
        },
        attention=tuple(imported(n) for n in found.attention),
        attention_tokens=found.attention_tokens,
        windowed_attention=found.windowed_attention,
        windowed_layers=found.windowed_layers,
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
