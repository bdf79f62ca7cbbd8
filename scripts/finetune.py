"""Train a custom classifier: a new logits layer on a registered network, from a folder per class.

    python scripts/finetune.py DATA_DIR --out checkpoints/mine
    gradcam explain img.png --model efficientnet_lite0 --checkpoint checkpoints/mine \\
        --num-classes 2 --labels checkpoints/mine/labels.txt

DATA_DIR/<class name>/*.png|jpg: class ids follow the sorted folder names (written to labels.txt).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradcam.errors import exit_status  # noqa: E402


def _run(argv):
    from nets.nets_factory import DEFAULT_NETWORK, NETWORKS

    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("data_dir", metavar="DATA_DIR", help="one sub-folder of images per class")
    parser.add_argument("--out", required=True, help="output directory (checkpoint + labels.txt)")
    parser.add_argument("--model", default=DEFAULT_NETWORK, choices=sorted(NETWORKS))
    parser.add_argument("--checkpoint", help="starting weights (default: the network's own)")
    parser.add_argument(
        "--train-scopes",
        default="",
        help="comma-separated variable scopes to train besides the new logits "
        "layer, e.g. efficientnet_lite0/head",
    )
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from tqdm import tqdm

    from gradcam.finetune import finetune

    start = time.perf_counter()
    result = finetune(
        args.data_dir,
        args.out,
        args.model,
        args.checkpoint,
        args.train_scopes.split(","),
        args.steps,
        args.batch_size,
        args.learning_rate,
        args.seed,
        progress=lambda r: tqdm(r, desc="training", unit="step", leave=False),
    )
    n = len(result.class_names)
    print(
        f"trained {n} classes ({', '.join(result.class_names)}) in "
        f"{time.perf_counter() - start:.1f} s{' on cached features' if result.cached_features else ''}:"
        f" train accuracy {result.train_accuracy:.3f}, loss {result.loss:.4f}"
    )
    print(
        f"wrote {result.checkpoint} and {result.labels_file}; explain with:\n"
        f"  gradcam explain IMAGE --model {args.model} --checkpoint {args.out} "
        f"--num-classes {n} --labels {result.labels_file}"
    )
    return 0


def main(argv=None):
    return exit_status(lambda: _run(argv), "finetune")


if __name__ == "__main__":
    sys.exit(main())
