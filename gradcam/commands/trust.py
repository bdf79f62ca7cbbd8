"""Which explanation method can I trust on this model and these images? Runs the randomisation
sanity check (Adebayo et al. 2018, with eMPRT), faithfulness against a random and a blurred map
(SRG, Blücher et al. 2024), class sensitivity (Focus, Arias-Duart et al. 2022; needs DATA as
class subfolders), localisation (with --boxes DIR) and agreement between methods, prints one line
per method and writes the verdict card OUT/trust.html with its twin OUT/trust.json
(docs/trust.md)."""

from gradcam.commands.common import add_model_arguments, load_model, parse_methods
from gradcam.errors import UserError

NAME = "trust"
HELP = "which explanation method can I trust on this model and these images (verdict card)"
BUDGET_NAMES = (
    "quick",
    "paper",
)  # gradcam.method_trust.protocol.BUDGETS, spelled out for --help speed


def add_arguments(parser):
    parser.add_argument(
        "data",
        metavar="DATA",
        help="a folder of images; class-named subfolders (tiger_cat/, 281/, n02123159/) give "
        "each image's class, which Focus needs",
    )
    parser.add_argument("--out", required=True, metavar="TRUST", help="folder of the card")
    add_model_arguments(parser)
    parser.add_argument(
        "--methods",
        help="comma-separated registered methods, or 'all' (default: gradcam.method_trust's eight: "
        "the Grad-CAM family's grad_cam, grad_cam_pp, xgrad_cam, layer_cam and the gradient "
        "family's gradient, guided_backprop, smoothgrad, integrated_gradients)",
    )
    parser.add_argument(
        "--boxes",
        metavar="DIR",
        help="Pascal VOC XML files named like the images: adds the localisation check",
    )
    parser.add_argument(
        "--budget",
        default="quick",
        choices=BUDGET_NAMES,
        help="quick: 16 images at most, the registry's reduced method settings, 3 randomised "
        "depths, 6 removal steps; paper: every image, the methods' and papers' settings",
    )
    parser.add_argument("--layer", help="layer of the CAM family (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument("--batch-size", type=int, default=32, help="images per session run")


def run(args):
    from pathlib import Path

    from gradcam.method_trust import trust

    methods = [m.name for m in parse_methods(args.methods, [])] if args.methods else None
    if not Path(args.data).is_dir():
        raise UserError(f"{args.data}: not a folder of images")
    if args.boxes and not Path(args.boxes).is_dir():
        raise UserError(f"--boxes {args.boxes}: not a folder of VOC XML files")
    model = load_model(args)
    card = trust(
        model,
        args.data,
        methods,
        boxes=args.boxes,
        budget=args.budget,
        seed=args.seed,
        layer=args.layer,
        batch_size=args.batch_size,
        out=args.out,
        progress=lambda line: print(line, flush=True),
    )
    for line in card.lines():
        print(line)
    print(f"wrote {Path(args.out) / 'trust.html'} and trust.json")
    return 0
