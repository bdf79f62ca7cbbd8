"""Export a registered network as a frozen GraphDef (.pb) and as a SavedModel.

Both take the network's input AFTER value normalisation (``input``, float32 N x H x W x 3) and
give ``logits``; ``Model.from_file`` explains them (tensors found, or given as this module prints)::

    python -m gradcam.export efficientnet_lite0 exported/
"""

import argparse
import shutil
import sys
from pathlib import Path

from gradcam.checkpoints import default_checkpoint, restore_variables
from gradcam.errors import exit_status
from gradcam.loaders.slim import network_spec
from nets.nets_factory import NETWORKS
from nets.tf_compat import tf

INPUT_NAME = "input"
LOGITS_NAME = "logits"


def _build(spec, num_classes):
    """Fresh graph with named input and logits; returns (graph, input, logits, layer tensor)."""
    graph = tf.Graph()
    with graph.as_default():
        size = spec.image_size
        images = tf.placeholder(tf.float32, [None, size, size, 3], name=INPUT_NAME)
        logits, end_points = spec.build(images, num_classes)
        logits = tf.identity(tf.reshape(logits, [-1, num_classes]), name=LOGITS_NAME)
    return graph, images, logits, end_points[spec.default_layer]


def export(network, out_dir, checkpoint=None, num_classes=None):
    """Write ``<out_dir>/frozen.pb`` and ``<out_dir>/saved_model/``; returns the tensor names."""
    spec = network_spec(network)
    num_classes = int(num_classes or spec.num_classes)
    out = Path(out_dir)
    graph, images, logits, layer = _build(spec, num_classes)
    with tf.Session(graph=graph) as session:
        restore_variables(session, graph, checkpoint or default_checkpoint(spec), spec.name)
        frozen = tf.graph_util.convert_variables_to_constants(
            session, graph.as_graph_def(), [logits.op.name, layer.op.name]
        )
        out.mkdir(parents=True, exist_ok=True)
        (out / "frozen.pb").write_bytes(frozen.SerializeToString())
        saved = out / "saved_model"
        if saved.exists():
            shutil.rmtree(saved)
        builder = tf.saved_model.builder.SavedModelBuilder(str(saved))
        signature = tf.saved_model.predict_signature_def({"images": images}, {"logits": logits})
        builder.add_meta_graph_and_variables(
            session,
            [tf.saved_model.tag_constants.SERVING],
            signature_def_map={"serving_default": signature},
        )
        builder.save()
    return {
        "input": images.name,
        "logits": logits.name,
        "layer": layer.name,
        "preprocessing": spec.preprocessing,
        "image_size": spec.image_size,
        "num_classes": num_classes,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", choices=sorted(NETWORKS))
    parser.add_argument("out_dir")
    parser.add_argument("--checkpoint", help="default: the network's own checkpoint")
    parser.add_argument("--num-classes", type=int)
    args = parser.parse_args(argv)
    names = export(args.network, args.out_dir, args.checkpoint, args.num_classes)
    print(
        f"wrote {args.out_dir}/frozen.pb and {args.out_dir}/saved_model/; explain with:\n"
        f"  --input-tensor {names['input']} --logits-tensor {names['logits']} "
        f"--layer-tensor {names['layer']} --preprocessing {names['preprocessing']} "
        f"--image-size {names['image_size']}"
    )


if __name__ == "__main__":
    sys.exit(exit_status(main, "export"))
