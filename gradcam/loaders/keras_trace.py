"""Keras models and TF2 SavedModels as frozen TF1 GraphDefs, traced in eager mode.

TensorFlow runs in graph mode in this process (``nets.tf_compat`` disables eager execution
globally). Keras 3 and tf-keras models and TF2 SavedModels are eager objects, so they are loaded
and traced inside ``context.eager_mode()``, which makes this thread eager for that block only: the
model's call becomes a concrete ``tf.function`` on a float32 image input, and
``convert_variables_to_constants_v2``'s conversion turns it into a plain GraphDef whose weights are
constants (Grappler inlines nested function calls on the way).
That GraphDef is then imported like any frozen graph, so every op of the model, nested or not, is
an op of one graph, and a layer of a nested backbone is a tensor like any other.

Keras models (a file's, loaded by ``load_keras``, or a live model the user built; both traced by
``trace_keras``): while the call is traced, every layer's ``call`` (the layers and operations of
nested models and the sub-layers of layers too, e.g. a keras-hub encoder's blocks) records its
first rank-3 (tokens) or rank-4 output under its path ("backbone/c3", the names the user gave), and the traced
function returns those outputs as well, so each layer path maps to its tensor without guessing
from op names (Keras 3 adds ``_1`` suffixes to its name scopes). A loaded file's model and its
variables are dropped when the GraphDef is made; a live model's layers are left as they were.
"""

import contextlib
import functools
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

from gradcam.errors import UserError
from gradcam.loaders.keras_config import KerasFile

SIGNATURE = "serving_default"


@dataclass(frozen=True, kw_only=True)
class Frozen:
    """A traced model: ``graph_def`` with constant weights, its image ``input`` tensor name, its
    ``outputs`` tensor names (one per output, by name) and, for Keras models, ``layers``: the
    tensor name of each layer path's output."""

    graph_def: object
    input: str
    outputs: dict
    layers: dict = field(default_factory=dict)


def _eager():
    from tensorflow.python.eager import context

    return context.eager_mode()


def _tf2():
    import tensorflow

    return tensorflow


def _freeze(concrete):
    """(GraphDef with the variables as constants, input tensor name, output tensor names) of a
    concrete function: the first half of ``convert_variables_to_constants_v2``, which would then
    spend as long again wrapping the GraphDef into a new function we do not need (node names are
    kept, so the function's own input and output names hold)."""
    from tensorflow.python.framework import convert_to_constants as convert

    try:
        data = convert._FunctionConverterDataInEager(
            func=concrete, lower_control_flow=True, aggressive_inlining=False
        )
        graph_def, converted = convert._replace_variables_by_constants(converter_data=data)
    except AttributeError:  # a TensorFlow without these internals: the public call
        frozen = convert.convert_variables_to_constants_v2(concrete)
        return (
            frozen.graph.as_graph_def(),
            frozen.inputs[0].name,
            [t.name for t in frozen.outputs],
        )
    captured = concrete.graph.internal_captures  # the indices count these
    constants = {id(captured[i]) for i in converted}
    inputs = [t.name for t in concrete.inputs if id(t) not in constants]
    return graph_def, inputs[0], [t.name for t in concrete.outputs]


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


# -- Keras --------------------------------------------------------------------------------------
def _keras_module(keras3):
    """Keras 3 (with the TensorFlow backend) or tf-keras."""
    if not keras3:
        import tf_keras

        return tf_keras
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        raise UserError(f"Keras runs on {keras.backend.backend()}; set KERAS_BACKEND=tensorflow")
    return keras


def _load_keras(keras_file, trust_code):
    keras = _keras_module(keras_file.keras3)
    try:
        return keras, keras.models.load_model(
            str(keras_file.path), compile=False, safe_mode=not trust_code
        )
    except UserError:
        raise
    except Exception as exc:  # Keras raises many types for unloadable files
        raise UserError(f"cannot load {keras_file.path.name}: {_first_line(exc)}") from None


def _input_spec(model, name):
    """(shape, dtype) of the model's one image input."""
    tf = _tf2()
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise UserError(
            f"{name}: the model has no defined input (build it on a keras.Input before saving)"
        )
    if len(inputs) != 1:
        raise UserError(
            f"{name}: the model has {len(inputs)} inputs; only models with one image "
            "input can be explained"
        )
    shape = tf.TensorShape(inputs[0].shape)
    dtype = tf.as_dtype(inputs[0].dtype)
    if shape.rank != 4 or shape[-1] != 3 or not dtype.is_floating:
        raise UserError(
            f"{name}: the model's input is {dtype.name} {_shape_text(shape)}; "
            "need a float image input N x H x W x 3"
        )
    return shape, dtype


def _shape_text(shape):
    dims = shape.as_list() if shape.rank is not None else None
    return (
        "of unknown rank" if dims is None else "x".join("?" if d is None else str(d) for d in dims)
    )


def _children(layer):
    """The layers and operations directly inside ``layer``: a Keras 3 functional model's
    ``operations`` (layers and ops such as a residual ``+``), else its tracked sub-layers (the
    blocks of a keras-hub encoder, the attention of a block), else ``layers``."""
    operations = getattr(layer, "operations", None)
    if operations:
        return list(operations)
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=False, recursive=False))
    return list(getattr(layer, "layers", ()))


def _is_recorded(tensor):
    """A float output of rank 3 (N x tokens x channels) or 4 (N x h x w x c, or attention)."""
    tf = _tf2()
    return (
        isinstance(tensor, tf.Tensor) and tensor.shape.rank in (3, 4) and tensor.dtype.is_floating
    )


@contextlib.contextmanager
def _recording_layer_outputs(model, record):
    """While active, every layer's ``call`` (recursively into nested models and layers) stores its
    first rank-3 or rank-4 float output in ``record`` under the layer's path; the model's own
    ``call`` methods are back as they were afterwards (a live model stays the user's)."""
    wrapped = []

    def wrap(layer, path, seen):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        original = layer.call
        had_own = "call" in vars(layer)

        @functools.wraps(original)
        def call(*args, **kwargs):
            out = original(*args, **kwargs)
            if _is_recorded(out):
                record.setdefault(path, out)
            return out

        layer.call = call
        wrapped.append((layer, original, had_own))
        for inner in _children(layer):
            wrap(inner, f"{path}/{inner.name}", seen)

    seen = {id(model)}
    try:
        for layer in _children(model):
            if type(layer).__name__ != "InputLayer":
                wrap(layer, layer.name, seen)
        yield record
    finally:
        for layer, original, had_own in reversed(wrapped):
            if had_own:
                layer.call = original
            else:
                vars(layer).pop("call", None)


def load_keras(keras_file: KerasFile, trust_code: bool = False):
    """The model of a Keras file already checked by ``keras_config.check_trusted`` (loaded in
    eager mode; trace it with ``trace_keras``)."""
    with _eager():
        return _load_keras(keras_file, trust_code)[1]


def trace_keras(model, name: str) -> Frozen:
    """A Keras 3 or tf-keras model (loaded from a file, or the user's live model) traced and
    frozen.

    Returns:
        ``Frozen`` with outputs {"output": the model's output} and every layer path's rank-3 or
        rank-4 output.

    Raises:
        UserError: several inputs, a non-image input, several outputs, an untraceable model.
    """
    with _eager():
        tf = _tf2()
        shape, dtype = _input_spec(model, name)
        record, order = {}, []

        def forward(images):
            record.clear()
            output = model(tf.cast(images, dtype), training=False)
            if not isinstance(output, tf.Tensor):
                raise UserError(
                    f"{name}: the model has several outputs; only single-output "
                    "classifiers can be explained"
                )
            order[:] = list(record)
            return [output] + [record[key] for key in order]

        spec = tf.TensorSpec([None] + shape.as_list()[1:], tf.float32, name="images")
        try:
            with _recording_layer_outputs(model, record):
                concrete = tf.function(
                    forward, input_signature=[spec], autograph=False
                ).get_concrete_function()
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"cannot trace {name}: {_first_line(exc)}") from None
        graph_def, images, names = _freeze(concrete)
        return Frozen(
            graph_def=graph_def,
            input=images,
            outputs={"output": names[0]},
            layers=dict(zip(order, names[1:])),
        )


def freeze_keras(keras_file: KerasFile, trust_code: bool = False) -> Frozen:
    """Load a Keras model file (already checked by ``keras_config.check_trusted``) and trace it
    (``load_keras`` then ``trace_keras``).

    Raises:
        UserError: an unloadable file, several inputs, a non-image input, several outputs.
    """
    return trace_keras(load_keras(keras_file, trust_code), keras_file.path.name)


def is_keras_model(value) -> bool:
    """True for a live Keras 3 or tf-keras model object (checked by class, importing neither)."""
    return any(
        f"{c.__module__}.{c.__name__}"
        in ("keras.src.models.model.Model", "tf_keras.src.engine.training.Model")
        for c in type(value).__mro__
    )


# -- TF2 SavedModel -----------------------------------------------------------------------------
def freeze_saved_model(path, signature: Optional[str] = None) -> Frozen:
    """Load a TF2 SavedModel with ``tf.saved_model.load`` (its functions are graphs: no Python of
    the file runs) and freeze its serving signature.

    Raises:
        UserError: no usable signature, several inputs, a non-image input, unreadable variables.
    """
    with _eager():
        tf = _tf2()
        try:
            loaded = tf.saved_model.load(str(path))
        except Exception as exc:
            raise UserError(f"cannot load SavedModel {path}: {_first_line(exc)}") from None
        function = _signature(loaded, path, signature)
        _, inputs = function.structured_input_signature
        if len(inputs) != 1:
            raise UserError(
                f"SavedModel {path}: its signature has {len(inputs)} inputs "
                f"({', '.join(sorted(inputs))}); only one image input can be explained"
            )
        (spec,) = inputs.values()
        if spec.shape.rank != 4 or spec.shape[-1] != 3 or not spec.dtype.is_floating:
            raise UserError(
                f"SavedModel {path}: its input is {spec.dtype.name} "
                f"{_shape_text(spec.shape)}; need a float image input N x H x W x 3"
            )
        keys = sorted(function.structured_outputs)
        graph_def, images, names = _freeze(function)
        return Frozen(graph_def=graph_def, input=images, outputs=dict(zip(keys, names)))


def _signature(loaded, path, wanted):
    signatures = dict(getattr(loaded, "signatures", {}) or {})
    if wanted is not None or SIGNATURE in signatures:
        name = wanted or SIGNATURE
    elif len(signatures) == 1:
        (name,) = signatures
    else:
        found = ", ".join(sorted(signatures)) or "none"
        raise UserError(
            f"SavedModel {path} has no usable serving signature (signatures: {found}); "
            "export it with a 'serving_default' signature"
        )
    if name not in signatures:
        raise UserError(
            f"SavedModel {path} has no signature {name!r} "
            f"(signatures: {', '.join(sorted(signatures)) or 'none'})"
        )
    return signatures[name]
