"""Download official TF-Slim ImageNet checkpoints (download.tensorflow.org) into the checkpoint
home: $GRADCAM_HOME, else a source checkout's checkpoints/, else ~/.cache/gradcam. Each tarball is
checked (a gzip tar holding the checkpoint, no unsafe member, the digest of the first download
kept in NAME/SHA256 and required of later ones) and unpacked atomically into NAME/."""

from pathlib import Path

from gradcam.errors import UserError
from nets.nets_factory import NETWORKS

NAME = "download"
HELP = "download official Slim checkpoints (resnet_v2_50, inception_v3, ... or all)"


def _downloadable():
    # gradcam.download.downloadable, without importing TensorFlow for --help
    return sorted(name for name, spec in NETWORKS.items() if spec.download_url)


def add_arguments(parser):
    parser.add_argument(
        "networks",
        nargs="+",
        metavar="NETWORK",
        choices=_downloadable() + ["all"],
        help=f"network names ({', '.join(_downloadable())}), or 'all'",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="checkpoint directory (default: $GRADCAM_HOME, else the checkout's "
        "checkpoints/, else ~/.cache/gradcam)",
    )
    parser.add_argument("--url", help="download from this URL instead (a mirror; one network only)")
    parser.add_argument("--force", action="store_true", help="download even if already present")


def run(args):
    from gradcam.download import download, downloadable

    names = downloadable() if "all" in args.networks else list(dict.fromkeys(args.networks))
    if args.url and len(names) != 1:
        raise UserError("--url needs exactly one network")
    for name in names:
        print(download(name, args.dir, args.url, args.force), flush=True)
    return 0
