"""Seconds per image of every registered method on efficientnet_lite0, default options.

python scripts/time_methods.py [--images 1] [--methods a,b] [--threads N]
"""

import argparse
import time

import numpy as np
import skimage.data

from gradcam.methods import METHODS, get_method
from gradcam.model import Model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1, help="copies of the coffee photo per call")
    parser.add_argument("--methods", help="comma-separated (default: all registered)")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    model = Model("efficientnet_lite0", threads=args.threads)
    images = np.repeat(model.prepare(skimage.data.coffee())[None], args.images, 0)
    target = model.class_index("espresso")
    names = args.methods.split(",") if args.methods else list(METHODS)
    for name in names:  # untimed cheap call: first session runs of a fetch set are slow
        get_method(name).fn(model, images[:1], target, **get_method(name).smoke)
    print(f"{'method':22s} {'s/image':>8s}")
    for name in names:
        start = time.perf_counter()
        get_method(name).fn(model, images, target)
        print(f"{name:22s} {(time.perf_counter() - start) / len(images):8.2f}", flush=True)


if __name__ == "__main__":
    main()
