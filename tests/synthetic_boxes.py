"""A small box-annotated image set built on the fly: flat-coloured objects pasted at known places
on a random texture, saved as PNG files with one Pascal VOC XML file each."""

from pathlib import Path

import numpy as np
from PIL import Image

OBJECT_COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0))


def texture(height, width, seed=0):
    """Random dark texture (values 0..99), so the bright object colours never occur in it."""
    return np.random.default_rng(seed).integers(0, 100, (height, width, 3), dtype=np.uint8)


def scene(width, height, objects, seed=0):
    """uint8 image with each object's colour pasted on its box.

    ``objects``: (name, (xmin, ymin, xmax, ymax)) with 0-based inclusive pixel boxes.
    """
    image = texture(height, width, seed)
    for number, (_, (xmin, ymin, xmax, ymax)) in enumerate(objects):
        image[ymin : ymax + 1, xmin : xmax + 1] = OBJECT_COLOURS[number % len(OBJECT_COLOURS)]
    return image


def voc_xml(filename, width, height, objects, size=True):
    """VOC annotation text; the 0-based inclusive boxes are written 1-based, as VOC files are."""
    parts = ["<annotation>", "<folder>val</folder>", f"<filename>{filename}</filename>"]
    if size:
        parts.append(
            f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
        )
    for name, (xmin, ymin, xmax, ymax) in objects:
        parts.append(
            f"<object><name>{name}</name><difficult>0</difficult><bndbox>"
            f"<xmin>{xmin + 1}</xmin><ymin>{ymin + 1}</ymin>"
            f"<xmax>{xmax + 1}</xmax><ymax>{ymax + 1}</ymax></bndbox></object>"
        )
    parts.append("</annotation>")
    return "\n".join(parts)


def write_scene(folder, stem, width, height, objects, seed=0):
    """Write ``folder/images/stem.png`` and ``folder/boxes/stem.xml``; return the image path."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "boxes").mkdir(parents=True, exist_ok=True)
    path = folder / "images" / f"{stem}.png"
    Image.fromarray(scene(width, height, objects, seed)).save(path)
    (folder / "boxes" / f"{stem}.xml").write_text(voc_xml(path.name, width, height, objects))
    return path


# --- the hand-worked set: three images of three shapes, four (image, class) pairs ---------------
# ImageNet-1k indices (sorted WordNet ids): tench 0, cock 7, tabby 281, tiger cat 282.
TENCH, COCK, TABBY, TIGER_CAT = 0, 7, 281, 282
HAND_SCENES = {
    # A 120 x 80: a tiger cat (named by WordNet id) at columns 30..89, rows 20..59
    "a": (120, 80, [("n02123159", (30, 20, 89, 59))]),
    # B 100 x 60: two tabbies (several boxes of one class) and a cock
    "b": (
        100,
        60,
        [("tabby", (5, 5, 24, 24)), ("cock", (40, 30, 50, 40)), ("tabby", (60, 10, 89, 49))],
    ),
    # C 60 x 90 (portrait): a tench in the bottom-right corner, on the border
    "c": (60, 90, [("n01440764", (40, 70, 59, 89))]),
}
# The model's five best classes for each image, best first
HAND_TOP5 = {"a": [TIGER_CAT, 1, 2, 3, 4], "b": [COCK, TABBY, 1, 2, 3], "c": [TENCH, 1, 2, 3, 4]}


# The hand-worked figures (hand_maps, HAND_TOP5; derivation in
# tests/test_localization_protocol.py), each image counting once, shared among its classes:
#   GT-known: A 1, B (1 + 0) / 2, C 0 -> 0.5
#   top-1 loc right: A 1, B 0, C 0 -> 1 / 3, error 2 / 3
#   top-5 loc right: A 1, B (1 + 0) / 2, C 0 -> 0.5, error 0.5
#   pointing: A 1, B (1 + 0) / 2, C 0 (its tied maximum points first at (0, 0)) -> 0.5
HAND_FIGURES = {
    "gt_known_loc_accuracy": 0.5,
    "top1_loc_error": 2 / 3,
    "top5_loc_error": 0.5,
    "pointing_game_accuracy": 0.5,
}


def stem_of(photo):
    """The hand-set image a photo is, from its (unique) size."""
    return next(stem for stem, (w, h, _) in HAND_SCENES.items() if photo.shape[:2] == (h, w))


def rectangle_map(height, width, box, value=1.0):
    """H x W map: ``value`` on the 0-based inclusive box (xmin, ymin, xmax, ymax), 0 elsewhere."""
    saliency = np.zeros((height, width))
    xmin, ymin, xmax, ymax = box
    saliency[ymin : ymax + 1, xmin : xmax + 1] = value
    return saliency


def hand_maps():
    """{(image stem, class): map at the original image size} of the hand-worked example:
    A, tiger cat: the object's rectangle (IoU 1, peak inside).
    B, tabby: the second tabby's rectangle (IoU 1 with that box, peak inside).
    B, cock: all zero (no box, no peak).
    C, tench: 0.5 on columns 30..59, rows 60..89 (900 pixels around the 400-pixel box: IoU
    4 / 9 < 0.5) and a maximum of 1.0 tied between (row 0, col 0), far away, and (80, 50),
    inside: the first in raster order, (0, 0), points 70 rows away."""
    map_c = rectangle_map(90, 60, (30, 60, 59, 89), 0.5)
    map_c[0, 0] = map_c[80, 50] = 1.0
    return {
        ("a", TIGER_CAT): rectangle_map(80, 120, (30, 20, 89, 59)),
        ("b", TABBY): rectangle_map(60, 100, (60, 10, 89, 49)),
        ("b", COCK): np.zeros((60, 100)),
        ("c", TENCH): map_c,
    }


def write_hand_set(folder):
    """Write the hand-worked set (PNG + VOC XML) under ``folder``; the image paths, sorted."""
    return [
        write_scene(folder, stem, width, height, objects, seed=i)
        for i, (stem, (width, height, objects)) in enumerate(HAND_SCENES.items())
    ]
