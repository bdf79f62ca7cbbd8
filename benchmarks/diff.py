"""``gradcam diff``'s own cost: the comparison of 5,000 images' maps (target: under 5 s on 2 cores),
apart from explaining them (which is two batch runs plus the audits: see benchmarks/throughput.py
and benchmarks/audit.py).

What is timed is exactly what ``gradcam.model_diff`` does after the maps exist, for the default two
methods: per image and method, A's map against B's and against A's floor run
(``compare_pair`` in batches of 16, as ``collect`` calls it), then ``mark_changes`` and the
summaries. The maps are smooth random 224 x 224 maps (7 x 7 noise upsampled, rectified: the shape
of CAM-family display maps, ties at zero included).

    python benchmarks/diff.py [--images 5000] [--size 224] [--repeats 3]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import zoom

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))

from gradcam.model_diff.compare import ImageDiff, PairMaps, compare_pair  # noqa: E402
from gradcam.model_diff.summary import mark_changes, summarise  # noqa: E402

METHODS = ("grad_cam", "layer_cam")
BATCH = 16


def smooth_maps(n, size, seed):
    rng = np.random.default_rng(seed)
    base = [np.maximum(zoom(rng.normal(size=(7, 7)), size / 7, order=1), 0) for _ in range(64)]
    stack = np.stack(base).astype(np.float32)
    return stack[rng.integers(0, len(stack), n)] + rng.random((n, size, size), np.float32) * 1e-3


def compare_all(maps_a, maps_b, maps_floor):
    images = []
    for start in range(0, len(maps_a), BATCH):
        rows = slice(start, start + BATCH)
        pair = PairMaps(
            a=maps_a[rows],
            b=list(maps_b[rows]),
            valid=[None] * len(maps_a[rows]),
            floors=[maps_floor[rows]],
            probabilities_a=None,
            probabilities_b=None,
        )
        compared = {m: compare_pair(pair) for m in METHODS}
        changes = {m: c for m, (c, _) in compared.items()}
        floors = {m: f for m, (_, f) in compared.items()}
        for i in range(len(changes[METHODS[0]])):
            images.append(
                ImageDiff(
                    path=f"{start + i}.png",
                    class_a=0,
                    class_b=0,
                    label="x",
                    top1_a="x",
                    top1_b="x",
                    probability_a=0.5,
                    probability_b=0.5,
                    changes={m: changes[m][i] for m in METHODS},
                    floors={m: floors[m][i] for m in METHODS},
                )
            )
    marked = mark_changes(images, METHODS)
    return {m: summarise(marked, m) for m in METHODS}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    maps_a = smooth_maps(args.images, args.size, 0)
    maps_b = smooth_maps(args.images, args.size, 1)
    maps_floor = np.clip(maps_a + np.float32(0.01), 0, None)
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        summary = compare_all(maps_a, maps_b, maps_floor)
        seconds.append(time.perf_counter() - start)
    print(
        f"diff comparison: {args.images} images x {len(METHODS)} methods at {args.size} px: "
        f"{np.median(seconds):.2f} s (median of {args.repeats}; target < 5 s); median IoU "
        f"{summary['grad_cam']['median_iou']:.3f}"
    )


if __name__ == "__main__":
    main()
