"""Arguments and steps shared by the subcommands (model choice, loading, class resolution)."""
from gradcam.errors import UserError


def add_model_arguments(parser):
    from nets.nets_factory import DEFAULT_NETWORK, NETWORKS

    parser.add_argument("--model", default=DEFAULT_NETWORK, choices=sorted(NETWORKS),
                        help="registered network")
    parser.add_argument("--checkpoint", help="checkpoint prefix or directory "
                        "(default: the network's checkpoint under checkpoints/)")
    parser.add_argument("--num-classes", type=int, help="classes of a fine-tuned logits layer")
    parser.add_argument("--labels", help="Slim label file (id:name per line) for --num-classes")
    parser.add_argument("--threads", type=int, help="TensorFlow intra-op threads")


def add_method_arguments(parser):
    from gradcam.methods import METHODS

    parser.add_argument("--method", default="grad_cam", choices=sorted(METHODS))
    parser.add_argument("--layer", help="end point to explain (default: the network's CAM layer; "
                        "'gradcam layers' lists them)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--central-fraction", type=float,
                        help="central crop fraction of the preprocessing (1.0 = no crop)")


def load_model(args):
    from gradcam.labels import read_label_file
    from gradcam.model import Model

    if args.labels and not args.num_classes:
        raise UserError("--labels needs --num-classes")
    labels = read_label_file(args.labels, args.num_classes) if args.labels else None
    return Model(args.model, args.checkpoint, args.num_classes, labels, args.threads)


def top_k(model, probabilities, k):
    order = probabilities.argsort()[::-1][:k]
    return [{"index": int(i), "label": model.label(i), "probability": float(probabilities[i])}
            for i in order]
