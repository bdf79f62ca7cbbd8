"""Decoding camera photos at the size the network needs: time and what it changes.

``load_image(path)`` decodes every pixel; ``load_scaled(path, min_size)`` decodes a JPEG at 1/2,
1/4 or 1/8 scale in the DCT domain (libjpeg's scaled IDCT via PIL's ``Image.draft``) and box-reduces
other formats, never below ``min_size``, and says by which factor. Three measurements on 12-MP
JPEGs made from the scikit-image sample photos:

- ``decode_times``: ms per image, full against reduced (interleaved, median and spread);
- ``input_differences``: the network input of the reduced decode against the full one's, max and
  mean absolute difference in uint8 levels, for two ways of cropping the reduced image: in whole
  reduced pixels (``whole``: the crop moves by up to half a reduced pixel) and placed in the full
  photo's coordinates (``placed``: what ``Model.prepare`` does with a ``ScaledImage``, as batch
  mode decodes);
- ``map_differences``: max absolute difference of the two Grad-CAM maps ([S, S], in [0, 1]),
  beside ``quality_reference``: the same for JPEG quality 92 against 90, both decoded fully.

Two kinds of test file: ``upscaled`` (a sample photo resized up to the camera size: smooth, like
the brief asks) and ``mosaic`` (sample photos tiled at their own resolution: full-resolution
detail and sharp seams, the hard case for an extra low-pass filter).

    python benchmarks/decode.py          # prints the three tables (about a minute on 2 cores)

Importing this module has no side effects.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import summarise  # noqa: E402
from gradcam.images import load_image, load_scaled  # noqa: E402

PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")
CAMERA_SIZE = (4032, 3024)
# Sizes whose shorter side lands a DCT scale exactly on 256 (the crop is then exactly 224 and the
# final resize does nothing), and one just below a boundary (the next coarser scale is taken).
BOUNDARY_SIZES = ((2731, 2048), (1365, 1024), (683, 512), (2729, 2047), (3024, 4032))


def sample_photos(names=PHOTOS):
    """RGB uint8 photos shipped with scikit-image."""
    import skimage.data

    return [getattr(skimage.data, name)() for name in names]


def upscaled(photo, size):
    """``photo`` scaled (bicubic) and centre-cropped to fill ``size`` (width, height)."""
    return ImageOps.fit(Image.fromarray(photo), size, Image.BICUBIC)


def mosaic(photos, size):
    """``photos`` tiled at their own resolution over ``size`` (width, height), row by row."""
    canvas = Image.new("RGB", size)
    x = y = row_height = index = 0
    while y < size[1]:
        tile = Image.fromarray(photos[index % len(photos)])
        canvas.paste(tile, (x, y))
        x, row_height, index = x + tile.width, max(row_height, tile.height), index + 1
        if x >= size[0]:
            x, y, row_height = 0, y + row_height, 0
    return canvas


def write_jpegs(directory, photos, sizes=(CAMERA_SIZE,), quality=92, kinds=("upscaled", "mosaic")):
    """JPEG files of each kind x photo x size in ``directory`` -> their paths.

    Args:
        directory: folder to write into (created).
        photos: RGB uint8 arrays.
        sizes: (width, height) of the files.
        quality: JPEG quality (4:2:0 chroma, as cameras).
        kinds: "upscaled" (one file per photo and size) and/or "mosaic" (one file per size).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for width, height in sizes:
        images = []
        if "upscaled" in kinds:
            images += [(f"up{i}", upscaled(p, (width, height))) for i, p in enumerate(photos)]
        if "mosaic" in kinds:
            images.append(("mosaic", mosaic(photos, (width, height))))
        for name, image in images:
            path = directory / f"{name}_{width}x{height}.jpg"
            image.save(path, quality=quality)
            paths.append(path)
    return paths


def decode_times(paths, min_size, repeats=3, prepare=None):
    """ms per image of the full and the reduced decode, interleaved file by file.

    Args:
        paths: image files.
        min_size: (min_width, min_height) for the reduced path.
        repeats: passes over ``paths``.
        prepare: optional ``ScaledImage -> network input`` (e.g. ``model.prepare``), timed as
            part of each decode.

    Returns:
        {"full_ms", "reduced_ms": summaries (timing.summarise), "ratio": median full/reduced}.
    """
    prepare = prepare or (lambda scaled: scaled)
    full, reduced = [], []
    for _ in range(repeats):
        for path in paths:
            for size, seconds in ((None, full), (min_size, reduced)):
                start = time.perf_counter()
                prepare(load_scaled(path, size))
                seconds.append(time.perf_counter() - start)
    full, reduced = np.asarray(full) * 1e3, np.asarray(reduced) * 1e3
    return {
        "full_ms": summarise(full),
        "reduced_ms": summarise(reduced),
        "ratio": float(np.median(full / reduced)),
    }


def input_differences(paths, prepare, min_size):
    """Per file: decoded size and the network inputs' max / mean / 99th-percentile absolute uint8
    difference, full decode against reduced decode, both through ``prepare`` (a function of a
    ``gradcam.images.ScaledImage``; the full decode has factor 1)."""
    rows = []
    for path in paths:
        exact, small = load_scaled(path), load_scaled(path, min_size)
        diff = np.abs(prepare(exact).astype(np.int16) - prepare(small))
        rows.append(
            {
                "file": Path(path).name,
                "decoded": [small.pixels.shape[1], small.pixels.shape[0]],
                "max": int(diff.max()),
                "mean": float(diff.mean()),
                "p99": float(np.percentile(diff, 99)),
            }
        )
    return rows


def map_differences(model, paths, other, method="grad_cam"):
    """Per file: max / mean absolute difference of the Grad-CAM maps of the full decode and of
    ``other(path)`` (a network input), the target held at the full decode's top class; the
    logits' max difference and whether the top class stayed."""
    from gradcam.explanation import explain

    rows = []
    for path in paths:
        pair = np.stack([model.prepare(load_image(path)), other(path)])
        logits = model.predict(pair)
        target = int(logits[0].argmax())
        maps = [explain(model, image[None], target, method).map[0] for image in pair]
        rows.append(
            {
                "file": Path(path).name,
                "map_max": float(np.abs(maps[0] - maps[1]).max()),
                "map_mean": float(np.abs(maps[0] - maps[1]).mean()),
                "same_top_class": bool(logits[1].argmax() == target),
                "logit_max": float(np.abs(logits[0] - logits[1]).max()),
            }
        )
    return rows


def summary(rows, keys):
    """max and median over files of each key."""
    return {
        key: {
            "max": float(max(r[key] for r in rows)),
            "median": float(np.median([r[key] for r in rows])),
        }
        for key in keys
    }


def reduced_path_rows(model, paths, gap):
    """Input and map differences of the reduced decode at ``reducing_gap`` ``gap``, its crop placed
    in full-photo coordinates (``placed``, batch mode's) and in whole reduced pixels (``whole``)."""
    from gradcam.preprocessing import decode_size

    min_size = decode_size(model.preprocessing, model.image_size, None, gap)
    placed = model.prepare
    whole = lambda scaled: model.prepare(scaled.pixels)  # noqa: E731
    inputs = input_differences(paths, placed, min_size)
    maps = map_differences(model, paths, lambda p: model.prepare(load_scaled(p, min_size)))
    whole_inputs = input_differences(paths, whole, min_size)
    return {
        "min_size": min_size,
        "inputs": inputs,
        "maps": maps,
        "whole_inputs": whole_inputs,
        "summary": summary(inputs, ("max", "mean", "p99"))
        | summary(maps, ("map_max", "map_mean", "logit_max")),
        "whole_summary": summary(whole_inputs, ("max", "mean", "p99")),
    }


def quality_reference(model, photos, directory, qualities=(92, 90)):
    """Map differences between two JPEG qualities of the same 12-MP files, both decoded fully:
    how much the maps move for a change nobody would call a different photo."""
    first, second = (write_jpegs(Path(directory) / f"q{q}", photos, quality=q) for q in qualities)
    by_name = {p.name: p for p in second}
    rows = map_differences(model, first, lambda p: model.prepare(load_image(by_name[p.name])))
    return {
        "qualities": list(qualities),
        "maps": rows,
        "summary": summary(rows, ("map_max", "map_mean", "logit_max")),
    }


def run(repeats=3, quality=92, with_model=True, gaps=(1, 2)):
    """Every measurement on freshly written files -> a JSON-able dict."""
    from gradcam.images import decode_min_size
    from gradcam.model import Model

    photos = sample_photos()
    result = {"quality": quality}
    model = Model("efficientnet_lite0") if with_model else None
    with tempfile.TemporaryDirectory() as tmp:
        camera = write_jpegs(Path(tmp) / "camera", photos, quality=quality)
        boundary = write_jpegs(
            Path(tmp) / "boundary", photos[:1], BOUNDARY_SIZES, quality, kinds=("upscaled",)
        )
        for gap in gaps:
            min_size = decode_min_size("shorter_side", 224, 0.875, gap)
            row = {"min_size": min_size, "decode": decode_times(camera, min_size, repeats)}
            if model:
                row["decode_and_prepare"] = decode_times(camera, min_size, repeats, model.prepare)
                row.update(reduced_path_rows(model, camera + boundary, gap))
            result[f"gap_{gap}"] = row
        if model:
            result["quality_reference"] = quality_reference(model, photos, tmp)
            model.close()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality", type=int, default=92)
    parser.add_argument("--no-model", action="store_true", help="decode times only")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.repeats, args.quality, not args.no_model), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
