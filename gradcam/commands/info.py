"""List the registered networks, methods, or the explainable layers of one network."""
from gradcam.methods import METHODS
from nets.nets_factory import DEFAULT_NETWORK, NETWORKS

NAME = "list"
HELP = "list models, methods, or the layers of a model"


def add_arguments(parser):
    parser.add_argument("what", choices=["models", "methods", "layers"])
    parser.add_argument("--model", default=DEFAULT_NETWORK, choices=sorted(NETWORKS))


def run(args):
    if args.what == "models":
        for spec in NETWORKS.values():
            print(f"{spec.name:20s} {spec.image_size}px  {spec.num_classes} classes  "
                  f"preprocessing={spec.preprocessing}  layer={spec.default_layer}")
    elif args.what == "methods":
        for method in METHODS.values():
            print(f"{method.name:20s} {method.kind:6s} {method.title}")
    else:
        _print_layers(NETWORKS[args.model])
    return 0


def _print_layers(spec):
    """End points with their shapes, from a graph built without weights."""
    from nets.tf_compat import tf

    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [1, spec.image_size, spec.image_size, 3])
        _, end_points = spec.build(images)
        for name, tensor in end_points.items():
            if tensor.shape.ndims == 4:
                mark = "  (default)" if name == spec.default_layer else ""
                print(f"{name:60s} {'x'.join(map(str, tensor.shape.as_list()[1:]))}{mark}")
