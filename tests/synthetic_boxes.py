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
        image[ymin:ymax + 1, xmin:xmax + 1] = OBJECT_COLOURS[number % len(OBJECT_COLOURS)]
    return image


def voc_xml(filename, width, height, objects, size=True):
    """VOC annotation text; the 0-based inclusive boxes are written 1-based, as VOC files are."""
    parts = ["<annotation>", "<folder>val</folder>", f"<filename>{filename}</filename>"]
    if size:
        parts.append(f"<size><width>{width}</width><height>{height}</height>"
                     "<depth>3</depth></size>")
    for name, (xmin, ymin, xmax, ymax) in objects:
        parts.append(f"<object><name>{name}</name><difficult>0</difficult><bndbox>"
                     f"<xmin>{xmin + 1}</xmin><ymin>{ymin + 1}</ymin>"
                     f"<xmax>{xmax + 1}</xmax><ymax>{ymax + 1}</ymax></bndbox></object>")
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
