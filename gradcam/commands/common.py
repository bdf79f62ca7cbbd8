"""Arguments and steps shared by the subcommands (model choice and loading, classes, methods).

Only light modules are imported here (the network and method registries import no TensorFlow),
so ``gradcam --help`` is fast; each command imports what it runs inside its ``run``.
"""

import argparse
import importlib.util
import sys
from pathlib import Path

from gradcam.arrays import frame_shape
from gradcam.errors import UserError
from gradcam.methods import ATTENTION_METHODS, METHODS, get_method
from gradcam.preprocessing import PREPROCESSING
from gradcam.score import KINDS as SCORE_KINDS
from nets.nets_factory import DEFAULT_NETWORK, NETWORKS


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are UserErrors (one line, exit status 2)."""

    def error(self, message):
        raise UserError(message)


def require_extra(module, extra, command):
    """UserError naming the pip extra to install when ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise UserError(f'gradcam {command} needs {module}: pip install "gradcam-slim[{extra}]"')


def add_model_arguments(parser):
    parser.add_argument(
        "--model",
        default=DEFAULT_NETWORK,
        choices=sorted(NETWORKS),
        help="registered network (add your own with --register-module FILE.py)",
    )
    parser.add_argument(
        "--checkpoint",
        help="checkpoint prefix or directory "
        "(default: the network's checkpoint under $GRADCAM_HOME)",
    )
    parser.add_argument("--num-classes", type=int, help="classes of a fine-tuned logits layer")
    parser.add_argument(
        "--labels",
        help="label file (id:name per line) naming the classes of "
        "--num-classes or of a --model-file",
    )
    parser.add_argument("--threads", type=int, help="TensorFlow intra-op threads")
    group = parser.add_argument_group("your own model file (instead of --model)")
    group.add_argument(
        "--model-file",
        "--graph",
        dest="model_file",
        metavar="PATH",
        help="Keras .h5 or .keras file, SavedModel directory (TF2 or TF1) or frozen "
        "GraphDef .pb; its input, logits (pre-softmax/sigmoid) and layers are found",
    )
    group.add_argument(
        "--trust-model-code",
        action="store_true",
        help="load a Keras file whose Lambda layers or custom objects run stored "
        "code (refused otherwise; only for files you trust)",
    )
    group.add_argument(
        "--input-tensor", help="override: the image input tensor (float32 N x H x W x 3)"
    )
    group.add_argument(
        "--logits-tensor", help="override: the pre-softmax logits tensor [N, classes]"
    )
    group.add_argument("--layer-tensor", help="override: the default layer (layer path or tensor)")
    group.add_argument(
        "--preprocessing",
        choices=sorted(PREPROCESSING),
        help="crop geometry and value normalisation the model expects (default for "
        "model files: raw, pixels 0-255 go in)",
    )
    group.add_argument(
        "--image-size",
        type=input_size,
        metavar="S|HxW",
        help="input size S (S x S) or H x W: for a model file whose input has none, or to run a "
        "registered network at another size where its head allows it",
    )
    group.add_argument(
        "--tokens",
        type=int,
        metavar="K",
        help="override: prefix tokens (class, distillation, registers) of a transformer's token layers",
    )
    group.add_argument(
        "--grid", type=grid_size, metavar="HxW", help="override: the patch grid of token layers"
    )


def grid_size(text):
    """ "6x6" -> (6, 6)."""
    h, _, w = text.lower().partition("x")
    if not (h.isdigit() and w.isdigit() and int(h) > 0 and int(w) > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not H x W (e.g. 14x14)")
    return int(h), int(w)


def input_size(text):
    """ "224" -> 224 (S x S); "160x256" -> (160, 256) (H x W)."""
    if text.isdigit() and int(text) > 0:
        return int(text)
    h, _, w = text.lower().partition("x")
    if not (h.isdigit() and w.isdigit() and int(h) > 0 and int(w) > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is neither S nor H x W (e.g. 224 or 160x256)")
    return int(h), int(w)


def add_class_argument(
    parser,
    repeat=False,
    help_text="target class (name or model-space index); default: each image's top class",
):
    """``--class`` (dest ``classes``): one class, or with ``repeat`` several."""
    parser.add_argument(
        "--class",
        dest="classes",
        metavar="CLASS",
        help=help_text,
        action="append" if repeat else "store",
    )


def add_method_arguments(parser, several=False, scores=True):
    """``--method`` (or ``--methods`` with ``several``), ``--layer``, ``--batch-size``,
    ``--option``/``--seed``, ``--contrast``/``--score`` (with ``scores``: commands whose output is
    the explanation itself) and ``--central-fraction``."""
    if several:
        parser.add_argument("--methods", help="comma-separated registered methods, or 'all'")
    else:
        parser.add_argument("--method", default="grad_cam", choices=[*METHODS, *ATTENTION_METHODS])
    parser.add_argument(
        "--layer",
        help="layer for the CAM family (default: the model's default "
        "layer; 'gradcam list layers' lists them)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="images per session run")
    parser.add_argument(
        "--option",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method option, e.g. steps=20 or smoothgrad.samples=10 (repeatable; "
        "docs/methods.md lists each method's options)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed of every randomised method "
        "(SmoothGrad's noise, IG's uniform baseline; default 0): same seed, same "
        "output; an explicit --option seed=N wins",
    )
    if scores:
        scoreless = ", ".join(m.name for m in METHODS.values() if not m.uses_score)
        parser.add_argument(
            "--contrast",
            metavar="CLASS",
            help="explain the target's score "
            "minus this class's: why the target rather than CLASS (name or "
            f"index; every method but {scoreless})",
        )
        parser.add_argument(
            "--score",
            choices=SCORE_KINDS,
            default="logit",
            help="what a class's "
            "score is: its logit (default) or its probability (softmax; "
            "sigmoid for a multi-label head)",
        )
    parser.add_argument(
        "--central-fraction",
        type=float,
        help="central crop fraction of the preprocessing (1.0 = no crop)",
    )


def parse_methods(text, default):
    """Registered methods named in a comma-separated ``text`` ('all' = every one; None = ``default``)."""
    if text is None:
        names = list(default)
    elif text.strip() == "all":
        names = list(METHODS)
    else:
        names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UserError("--methods: no method given")
    return [get_method(n) for n in names]


def load_user_modules(argv):
    """Import every ``--register-module FILE.py`` of ``argv`` (files that call
    ``nets.nets_factory.register_network``), so their networks become --model choices of any
    subcommand; returns ``argv`` without those options."""
    early = Parser(add_help=False, allow_abbrev=False)
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
            raise UserError(
                f"--register-module {path} failed: {type(exc).__name__}: {exc}"
            ) from None
    return rest


FILE_ONLY = (
    "trust_model_code",
    "tokens",
    "grid",
    "input_tensor",
    "logits_tensor",
    "layer_tensor",
    "preprocessing",
)


def check_model_flags(args):
    """UserError for model flags that do not go together."""
    if args.model_file:
        if args.checkpoint:
            raise UserError("--checkpoint does not apply to --model-file (its weights are in it)")
        if args.model != DEFAULT_NETWORK:
            raise UserError("give --model or --model-file, not both")
        return
    given = [f"--{name.replace('_', '-')}" for name in FILE_ONLY if getattr(args, name, None)]
    if given:
        raise UserError(f"{', '.join(given)} go{'es' * (len(given) == 1)} with --model-file")
    if args.labels and not args.num_classes:
        raise UserError("--labels needs --num-classes")


def note_token_layer(model):
    """On stderr, when the explained layer is a transformer's tokens: its layout and why it is the
    default ("gradcam: layer block_2_norm1: tokens 37 = 1 + 6x6, 32 channels; default: ...")."""
    record = next((r for r in model.layer_records if r.default), None)
    if record is not None and record.tokens is not None:
        print(
            f"gradcam: layer {record.name}: {record.text}; default: {model.default_reason}",
            file=sys.stderr,
        )


def load_model(args):
    """The ``gradcam.Model`` the model flags describe (or, when ``gradcam.cli.main`` was given a
    ``load_model``, the one it returns)."""
    from gradcam.model import Model

    check_model_flags(args)
    if getattr(args, "model_loader", None) is not None:
        return args.model_loader(args)
    labels = args.labels or None
    if args.model_file:
        model = Model.from_file(
            args.model_file,
            trust_code=args.trust_model_code,
            image_size=args.image_size,
            preprocessing=args.preprocessing,
            layer_tensor=args.layer_tensor,
            input_tensor=args.input_tensor,
            logits_tensor=args.logits_tensor,
            num_classes=args.num_classes,
            labels=labels,
            threads=args.threads,
            tokens=args.tokens,
            grid=args.grid,
        )
        note_token_layer(model)
        return model
    return Model(
        args.model,
        args.checkpoint,
        num_classes=args.num_classes,
        labels=labels,
        threads=args.threads,
        input_size=frame_shape(args.image_size) if args.image_size else None,
    )
