"""Download the official TF-Slim ImageNet checkpoints: the same as ``gradcam download``.

    python scripts/download_checkpoints.py resnet_v2_50 [inception_v3 ...]   # or: all

Kept for checkouts and notes that name this script; the code is ``gradcam/download.py`` (shipped
in the package) and the flags are those of ``gradcam download --help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradcam.cli import main as gradcam_main  # noqa: E402


def main(argv=None):
    return gradcam_main(["download", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
