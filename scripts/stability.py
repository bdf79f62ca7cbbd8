"""Many consecutive explanations in one process: the graph must not grow, memory must level off,
and the same inputs must give the same maps (stochastic methods too, with a fixed seed).

    python scripts/stability.py [--calls 1000] [--method grad_cam]

Prints the graph's op count and the process RSS before, at every tenth of the run, and after.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import skimage.data  # noqa: E402
from tqdm import tqdm  # noqa: E402

from gradcam.explanation import explain  # noqa: E402
from gradcam.model import Model  # noqa: E402

STOCHASTIC = {"smoothgrad": {"samples": 5, "seed": 0}}  # methods drawing random numbers


def _rss_mb():
    return psutil.Process().memory_info().rss / 2**20


def _report(label, model):
    print(f"{label:>14}: ops {model.op_count:6d}  RSS {_rss_mb():8.1f} MB", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--method", default="grad_cam")
    args = parser.parse_args()

    model = Model("efficientnet_lite0")
    images = np.stack([model.prepare(skimage.data.chelsea()), model.prepare(skimage.data.coffee())])
    targets = [281, 967]
    _report("built", model)
    first = explain(model, images[:1], targets[:1], args.method)
    _report("after 1 call", model)
    ops, every = model.op_count, max(1, args.calls // 10)
    for i in tqdm(range(1, args.calls), desc=args.method, mininterval=5, file=sys.stderr):
        result = explain(model, images[i % 2 : i % 2 + 1], targets[i % 2], args.method)
        if i % 2 == 0 and not np.array_equal(result.map, first.map):
            raise SystemExit(f"call {i}: the map differs from call 0")
        if (i + 1) % every == 0:
            tqdm.write(
                f"{f'after {i + 1} calls':>14}: ops {model.op_count:6d}  RSS {_rss_mb():8.1f} MB"
            )
    _report("end", model)
    print(
        f"op count {'unchanged' if model.op_count == ops else f'GREW by {model.op_count - ops}'} "
        f"over {args.calls - 1} calls after the first; maps identical across repeats"
    )
    for name, options in STOCHASTIC.items():
        a, b = (explain(model, images, targets, name, **options).map for _ in range(2))
        print(f"{name} {options}: two runs {'identical' if np.array_equal(a, b) else 'DIFFER'}")
    model.close()


if __name__ == "__main__":
    main()
