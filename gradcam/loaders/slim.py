"""A TF-Slim network and checkpoint as a ``ClassifierGraph``.

The network is built once on our pixel placeholder (value normalisation inside the graph) under
the guided-backprop override; its variables are restored from the checkpoint when the model's
session opens. A checkpoint of another network, or of another class count, is refused with the
first mismatching variables named before anything runs.
"""

import re
from difflib import get_close_matches

from gradcam.checkpoints import find_checkpoint, restore_variables
from gradcam.errors import UserError
from gradcam.graph import ClassifierGraph, LayerRecord, building
from gradcam.preprocessing import get_preprocessing
from nets.nets_factory import NETWORKS, NetworkSpec
from nets.tf_compat import tf


def network_spec(network):
    """The ``NetworkSpec`` of a registered name (or the spec itself)."""
    if isinstance(network, NetworkSpec):
        return network
    if network not in NETWORKS:
        near = get_close_matches(str(network), NETWORKS, 3, 0.5)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise UserError(
            f"unknown model {network!r}{hint}; valid models: {', '.join(sorted(NETWORKS))}"
        )
    return NETWORKS[network]


def _head_weights(spec, num_classes):
    """[C_in, C] tensor reading the final linear layer's weights at every run (so weights changed
    in the session, e.g. randomised, are seen)."""
    found = [v for v in tf.global_variables() if v.op.name == spec.head_weights]
    if not found:
        raise UserError(
            f"{spec.name}: head_weights {spec.head_weights!r} is not a variable of the network"
        )
    return tf.reshape(found[0].read_value(), [-1, num_classes])


def describe_network(network) -> tuple:
    """``LayerRecord`` of each 4-D end point of a registered network (or ``NetworkSpec``), from a
    graph built without weights (no checkpoint needed)."""
    spec = network_spec(network)
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [1, spec.image_size, spec.image_size, 3])
        _, end_points = spec.build(images)
        return tuple(
            LayerRecord(
                name=name,
                shape=tuple(tensor.shape.as_list()[1:]),
                default=name == spec.default_layer,
            )
            for name, tensor in end_points.items()
            if tensor.shape.ndims == 4
        )


def _fixed_size_layer(error) -> str:
    """ "its layer NAME" of the graph node TensorFlow's shape error names, else "a layer"."""
    found = re.search(r"\{\{node ([^}]+)\}\}", str(error))
    return f"its layer {found.group(1).rsplit('/', 1)[0]}" if found else "a fixed-size layer"


def load_slim(network, checkpoint=None, num_classes=None, input_size=None):
    """``ClassifierGraph`` of a registered network name or a ``NetworkSpec``.

    Args:
        network: a name in ``nets.nets_factory.NETWORKS`` or a ``NetworkSpec``.
        checkpoint: checkpoint prefix or directory (its latest); default: the network's own.
        num_classes: size of a fine-tuned logits layer; default: the record's.
        input_size: (H, W) to run the network at, where it allows another size than its
            record's S x S (a global-pooling head does); refused in one line where it does not.
    """
    spec = network_spec(network)
    checkpoint = find_checkpoint(checkpoint, spec)  # fail fast, before the graph
    num_classes = int(num_classes or spec.num_classes)
    preprocessing = get_preprocessing(spec.preprocessing)
    graph = tf.Graph()
    with building(graph):
        height, width = input_size or (spec.image_size, spec.image_size)
        images = tf.placeholder(tf.float32, [None, height, width, 3], name="images")
        try:
            logits, end_points = spec.build(preprocessing.normalize(images), num_classes)
        except ValueError as exc:  # a fixed-size layer (a pooling kernel, a reshape)
            raise UserError(
                f"{spec.name} does not run at {{argument}} {height}x{width}: "
                f"{_fixed_size_layer(exc)} needs its own {spec.image_size}x{spec.image_size} "
                "input (a global-pooling head takes any size)",
                "input_size",
            ) from None
        if logits.shape.ndims != 2:
            raise UserError(
                f"{spec.name} at {{argument}} {height}x{width} gives logits of shape "
                f"{logits.shape}, not N x classes",
                "input_size",
            )
        head = _head_weights(spec, num_classes) if spec.head_weights else None
    layers = {name: t for name, t in end_points.items() if t.shape.ndims == 4}
    if spec.default_layer not in layers:
        raise UserError(
            f"{spec.name}: default_layer {spec.default_layer!r} is not a 4-D end point "
            f"(4-D end points: {', '.join(layers) or 'none'})"
        )
    return ClassifierGraph(
        graph=graph,
        images=images,
        logits=logits,
        layers=layers,
        default_layer=spec.default_layer,
        name=spec.name,
        preprocessing=preprocessing,
        label_offset=spec.label_offset,
        head_weights=head,
        source=checkpoint,
        restore=lambda session: restore_variables(session, graph, checkpoint, spec.name),
    )
