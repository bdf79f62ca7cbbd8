"""List the registered networks, methods, or the explainable layers of one network or model file
(``gradcam list layers --model-file my_model.keras``: what was found, the layers the model layer
describes with their shapes, a transformer's token layers as ``tokens 37 = 1 + 6x6, 64
channels``, the default marked and why it is the default)."""

from gradcam.commands.common import add_model_arguments, load_model
from gradcam.methods import ATTENTION_METHODS, METHODS
from nets.nets_factory import NETWORKS

NAME = "list"
HELP = "list models, methods, or the layers of a model"


def add_arguments(parser):
    parser.add_argument("what", choices=["models", "methods", "layers"])
    add_model_arguments(parser)


def run(args):
    if args.what == "models":
        for spec in NETWORKS.values():
            print(
                f"{spec.name:20s} {spec.image_size}px  {spec.num_classes} classes  "
                f"preprocessing={spec.preprocessing}  layer={spec.default_layer}"
            )
    elif args.what == "methods":
        for method in [*METHODS.values(), *ATTENTION_METHODS.values()]:
            print(f"{method.name:20s} {method.kind:6s} {method.title}")
    elif args.model_file:
        _print_file_layers(load_model(args))
    else:
        _print_layers(NETWORKS[args.model])
    return 0


def _print_layers(spec):
    """End points with their shapes, as the Slim loader describes them (no weights needed)."""
    from gradcam.loaders.slim import describe_network

    for record in describe_network(spec):
        mark = "  (default)" if record.default else ""
        print(f"{record.name:60s} {record.text}{mark}")


def _print_file_layers(model):
    """What was found in a model file, then its layers (input side first), the default marked."""
    from gradcam.fetch_keys import LOGITS
    from gradcam.loaders.graph_file import SCOPE

    logits = model.tensors([LOGITS])[LOGITS]
    while logits.op.type == "Reshape":  # back to the model's own tensor
        logits = logits.op.inputs[0]
    print(
        f"{model.name}: input {model.input_size[0]}x{model.input_size[1]}x3 "
        f"(preprocessing {model.preprocessing.name}), {model.num_classes} classes, "
        f"{model.activation} head, logits {logits.name.removeprefix(SCOPE + '/')}"
    )
    for record in model.layer_records:
        mark = "  (default)" if record.default else ""
        print(f"{record.name:60s} {record.text}{mark}")
    if any(r.default and r.tokens is not None for r in model.layer_records):  # a transformer's
        print(f"default layer {model.default_layer}: {model.default_reason}")
    if model.unguided:
        print(f"guided backprop: no rule for {', '.join(model.unguided)} (plain gradients pass)")
    model.close()
