"""Audit what a model relies on across a data set: one map per image (through the batch
pipeline; --resume continues an interrupted run), the strategies of each class (spectral
clustering of its maps, SpRAy), and a causal shortcut test of each strategy (masking and
transplanting its hot region, with controls). DATA is a folder of class-named subfolders (their
names matched to the model's classes; --labels names a model file's classes) or a flat folder
(grouped by predicted class). Writes OUT/report.html (opens from disk), OUT/audit.json, one file
of member paths per suspicious cluster (OUT/suspicious/) and OUT/maps.npz."""

import json
import sys

from gradcam.commands.common import add_method_arguments, add_model_arguments, load_model

NAME = "audit"
HELP = "which strategies a model uses per class, and which look like shortcuts (report.html)"


def add_arguments(parser):
    parser.add_argument("data", metavar="DATA", help="folder of class subfolders, or of images")
    parser.add_argument("--out", required=True, metavar="AUDIT", help="output folder")
    add_model_arguments(parser)
    add_method_arguments(parser, scores=False)
    parser.set_defaults(batch_size=8)
    parser.add_argument(
        "--by",
        choices=("true", "predicted"),
        default="true",
        help="group images by their subfolder's class or by the predicted class (a flat "
        "folder is always grouped by prediction)",
    )
    parser.add_argument("--classes", metavar="A,B", help="audit only these classes")
    parser.add_argument(
        "--k",
        "--neighbours",
        dest="k",
        type=int,
        default=10,
        metavar="K",
        help="neighbours of the k-nearest-neighbour graph",
    )
    parser.add_argument(
        "--max-clusters", type=int, default=8, help="the most clusters the eigengap may choose"
    )
    parser.add_argument(
        "--area", type=float, default=0.1, help="share of the image the shortcut test masks"
    )
    parser.add_argument(
        "--fill", choices=("mean", "blur"), default="mean", help="how the masked region is filled"
    )
    parser.add_argument(
        "--max-images",
        type=int,
        default=64,
        help="the most images per part of each shortcut test (members, controls, transplants)",
    )
    parser.add_argument(
        "--maps",
        metavar="DIR",
        help="take the maps from this gradcam batch / gradcam beam --out folder (run with "
        "--outputs npz,jsonl --npz-maps lowres) instead of collecting them",
    )
    parser.add_argument("--resume", action="store_true", help="continue an interrupted collection")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args):
    from gradcam.auditing import audit, check_out
    from gradcam.commands.method_options import options_for, parse_options
    from gradcam.dataset import read_labelled_folder
    from gradcam.methods import get_method

    options = options_for(
        get_method(args.method), parse_options(args.options), strict=True, seed=args.seed
    )
    check_out(args.out, args.data)
    model = load_model(args)
    data = read_labelled_folder(args.data, model.labels, classes=args.classes)
    result = audit(
        model,
        data,
        out=args.out,
        method=args.method,
        layer=args.layer,
        by=args.by,
        k=args.k,
        max_clusters=args.max_clusters,
        seed=args.seed or 0,
        area=args.area,
        fill=args.fill,
        max_images=args.max_images,
        batch_size=args.batch_size,
        options=options,
        maps=args.maps,
        resume=args.resume,
        progress=not args.no_progress,
    )
    flagged = result.suspicious()
    if args.json:
        print(json.dumps({"report": f"{args.out}/report.html", **result.to_json()}))
    else:
        print(
            f"{sum(c.images for c in result.classes)} images, {len(result.classes)} classes, "
            f"{sum(len(c.clusters) for c in result.classes)} clusters, {len(flagged)} suspicious; "
            f"report: {args.out}/report.html"
        )
        for cls, cluster in flagged:
            test = cluster.test
            other = "n/a" if test.other_images_drop is None else f"{test.other_images_drop:.3g}"
            print(
                f"  suspicious: {cls.name} cluster {cluster.id} ({len(cluster.members)} images): "
                f"drop {test.drop:.3g} vs controls {test.control_drop:.3g} / {other}, "
                f"p={test.p_value:.2g}; members: {args.out}/{cluster.members_file}"
            )
        for item in result.classes:
            if item.skipped:
                print(f"  not clustered: {item.name}: {item.skipped}")
        for error in result.errors:
            print(f"  skipped: {error['error']}")
    sys.stdout.flush()
    return 0
