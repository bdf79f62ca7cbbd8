"""Arguments and steps shared by the subcommands (model choice, loading, class resolution)."""
import sys

from gradcam.errors import UserError


def add_model_arguments(parser):
    from nets.nets_factory import DEFAULT_NETWORK, NETWORKS

    parser.add_argument("--model", default=DEFAULT_NETWORK, choices=sorted(NETWORKS),
                        help="registered network (add your own with --register-module FILE.py)")
    parser.add_argument("--checkpoint", help="checkpoint prefix or directory "
                        "(default: the network's checkpoint under checkpoints/)")
    parser.add_argument("--num-classes", type=int, help="classes of a fine-tuned logits layer")
    parser.add_argument("--labels", help="Slim label file (id:name per line) for --num-classes")
    parser.add_argument("--threads", type=int, help="TensorFlow intra-op threads")
    add_graph_arguments(parser)


def add_graph_arguments(parser):
    """Any TF graph instead of a registered network (see gradcam/graph_model.py)."""
    from nets.preprocessing import PREPROCESSING

    group = parser.add_argument_group("any TF graph (instead of --model)")
    group.add_argument("--graph", metavar="FILE_OR_DIR",
                       help="frozen GraphDef .pb file or SavedModel directory")
    group.add_argument("--input-tensor", help="the graph's image input (float32 N x S x S x 3)")
    group.add_argument("--logits-tensor", help="the graph's pre-softmax logits [N, classes]")
    group.add_argument("--layer-tensor", help="4-D feature map for CAM methods")
    group.add_argument("--preprocessing", choices=sorted(PREPROCESSING),
                       help="crop geometry and value normalisation the graph expects")
    group.add_argument("--image-size", type=int, help="input size S, if the input tensor has none")


def load_user_modules(argv):
    """Import every ``--register-module FILE.py`` of ``argv`` (files that call
    ``nets.nets_factory.register_network``), so their networks become --model choices of any
    subcommand; returns ``argv`` without those options."""
    import argparse
    import importlib.util
    from pathlib import Path

    class Early(argparse.ArgumentParser):
        def error(self, message):
            raise UserError(message)

    early = Early(add_help=False, allow_abbrev=False)
    early.add_argument("--register-module", action="append", default=[], metavar="FILE.py")
    known, rest = early.parse_known_args(sys.argv[1:] if argv is None else argv)
    for path in known.register_module:
        file = Path(path).resolve()
        name = f"gradcam_user_{file.stem}"
        if not file.is_file():
            raise UserError(f"--register-module {path}: no such file")
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            if isinstance(exc, UserError):
                raise
            raise UserError(f"--register-module {path} failed: {type(exc).__name__}: {exc}") from None
    return rest


def add_method_arguments(parser):
    from gradcam.commands.method_options import add_option_argument
    from gradcam.methods import METHODS

    parser.add_argument("--method", default="grad_cam", choices=sorted(METHODS))
    parser.add_argument("--layer", help="end point to explain (default: the network's CAM layer; "
                        "'gradcam layers' lists them)")
    parser.add_argument("--batch-size", type=int, default=32)
    add_option_argument(parser)
    parser.add_argument("--central-fraction", type=float,
                        help="central crop fraction of the preprocessing (1.0 = no crop)")


def load_model(args):
    from gradcam.labels import read_label_file
    from gradcam.model import Model

    if args.labels and not args.num_classes:
        raise UserError("--labels needs --num-classes")
    labels = read_label_file(args.labels, args.num_classes) if args.labels else None
    if getattr(args, "graph", None):
        return _load_graph_model(args, labels)
    return Model(args.model, args.checkpoint, args.num_classes, labels, args.threads)


def _load_graph_model(args, labels):
    from gradcam.graph_model import GraphModel

    needed = [f"--{flag.replace('_', '-')}" for flag in
              ("input_tensor", "logits_tensor", "layer_tensor", "preprocessing")
              if not getattr(args, flag)]
    if needed:
        raise UserError(f"--graph needs {', '.join(needed)}")
    if args.checkpoint:
        raise UserError("--checkpoint does not apply to --graph (weights are in the graph)")
    return GraphModel(args.graph, args.input_tensor, args.logits_tensor, args.layer_tensor,
                      args.preprocessing, args.image_size, args.num_classes, labels, args.threads)


def top_k(model, probabilities, k):
    order = probabilities.argsort()[::-1][:k]
    return [{"index": int(i), "label": model.label(i), "probability": float(probabilities[i])}
            for i in order]
