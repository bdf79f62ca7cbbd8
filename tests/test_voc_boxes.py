"""Pascal VOC / ILSVRC box files: the 1-based inclusive convention, class resolution in the
1000- and 1001-way ImageNet label spaces, and one-line errors for bad files (including an XML
bomb, refused before it expands)."""

import time

import numpy as np
import pytest
from PIL import Image

from gradcam.errors import UserError
from gradcam.evaluation.boxes import (
    Box,
    box_from_voc,
    box_to_voc,
    boxes_by_class,
    class_index,
    image_size,
    imagenet_wnids,
    parse_xml,
    read_voc_dir,
    read_voc_file,
)
from gradcam.images import load_image
from gradcam.labels import imagenet_labels

from synthetic_boxes import OBJECT_COLOURS, voc_xml, write_scene

LABELS_1000 = list(imagenet_labels())
LABELS_1001 = ["background"] + LABELS_1000
# Known ImageNet-1k facts (standard order = sorted WordNet ids): tench n01440764 is class 0,
# tabby 281, tiger cat n02123159 is 282, toilet tissue n15075141 is 999.
TENCH, TABBY, TIGER_CAT, TOILET_TISSUE = 0, 281, 282, 999


def user_error(call, *args, **kwargs):
    with pytest.raises(UserError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message  # one line for the CLI
    return message


def write_xml(path, text):
    path.write_text(text)
    return path


def test_one_based_inclusive_boxes_cover_exactly_the_pasted_object(tmp_path):
    # Non-square 120 x 80 image; the object is pasted on rows 20..49, columns 30..59 (0-based),
    # so the file says xmin 31, ymin 21, xmax 60, ymax 50, and a second object touches the
    # bottom-right border: xmax = width, ymax = height in the file.
    objects = [("n02123159", (30, 20, 59, 49)), ("tabby", (100, 60, 119, 79))]
    image = write_scene(tmp_path, "cat", 120, 80, objects)
    xml = (tmp_path / "boxes" / "cat.xml").read_text()
    assert "<xmin>31</xmin>" in xml and "<xmax>120</xmax>" in xml and "<ymax>80</ymax>" in xml

    [annotation] = read_voc_dir(tmp_path / "boxes", [image], LABELS_1000)
    assert [o.box for o in annotation.objects] == [Box(30, 20, 59, 49), Box(100, 60, 119, 79)]
    pixels = np.asarray(Image.open(image))
    for number, obj in enumerate(annotation.objects):
        b = obj.box
        inside = pixels[b.ymin : b.ymax + 1, b.xmin : b.xmax + 1]
        assert (inside == OBJECT_COLOURS[number]).all()
        assert inside.shape[:2] == (b.ymax - b.ymin + 1, b.xmax - b.xmin + 1)
    # one pixel outside the first box (left of it and above it) is texture, not the object
    assert (pixels[20:50, 29] != OBJECT_COLOURS[0]).any(axis=-1).all()
    assert (pixels[19, 30:60] != OBJECT_COLOURS[0]).any(axis=-1).all()
    assert box_to_voc(Box(30, 20, 59, 49)) == [31, 21, 60, 50]
    assert box_from_voc(31, 21, 60, 50) == Box(30, 20, 59, 49)


def test_decimal_coordinates_are_rounded_to_the_nearest_pixel():
    assert box_from_voc("30.6", "1.4", "60.5001", "50") == Box(30, 0, 60, 49)


def test_wordnet_ids_and_names_resolve_in_the_1000_and_1001_label_spaces():
    assert imagenet_wnids()[0] == "n01440764" and len(set(imagenet_wnids())) == 1000
    assert list(imagenet_wnids()) == sorted(imagenet_wnids())
    for labels, offset in ((LABELS_1000, 0), (LABELS_1001, 1)):
        assert class_index("n01440764", labels) == TENCH + offset
        assert class_index("n02123159", labels) == TIGER_CAT + offset
        assert class_index("n15075141", labels) == TOILET_TISSUE + offset
        assert class_index("tabby", labels) == TABBY + offset
        assert class_index("tiger cat", labels) == TIGER_CAT + offset
        assert labels[class_index("n02123159", labels)] == "tiger cat"


def test_several_objects_and_classes_are_grouped_by_class(tmp_path):
    objects = [
        ("tabby", (5, 5, 24, 24)),
        ("cock", (40, 30, 50, 40)),
        ("n02123045", (60, 10, 89, 49)),
    ]
    image = write_scene(tmp_path, "two_cats_and_a_cock", 100, 60, objects)
    [annotation] = read_voc_dir(tmp_path / "boxes", [image], LABELS_1001)
    # n02123045 is tabby's WordNet id: the two tabby boxes share one class; Slim's +1 offset
    assert boxes_by_class(annotation) == {
        TABBY + 1: [Box(5, 5, 24, 24), Box(60, 10, 89, 49)],
        7 + 1: [Box(40, 30, 50, 40)],
    }


def test_unknown_classes_are_one_line_errors_naming_the_file(tmp_path):
    for name, expected in (
        ("n99999999", "not one of the 1000"),
        ("flying saucer", "unknown class"),
    ):
        image = write_scene(tmp_path, "thing", 50, 40, [(name, (1, 1, 10, 10))])
        message = user_error(read_voc_dir, tmp_path / "boxes", [image], LABELS_1000)
        assert expected in message and "thing.xml" in message
    image = write_scene(tmp_path, "cat", 50, 40, [("n02123159", (1, 1, 10, 10))])
    message = user_error(read_voc_dir, tmp_path / "boxes", [image], [f"c{i}" for i in range(10)])
    assert "ImageNet-1k" in message


def test_missing_xml_and_repeated_image_names_are_refused(tmp_path):
    image = write_scene(tmp_path, "cat", 50, 40, [("tabby", (1, 1, 10, 10))])
    other = tmp_path / "images" / "dog.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(other)
    assert "no dog.xml" in user_error(read_voc_dir, tmp_path / "boxes", [image, other], LABELS_1000)
    twin = tmp_path / "elsewhere" / "cat.png"
    twin.parent.mkdir()
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(twin)
    assert "several images" in user_error(
        read_voc_dir, tmp_path / "boxes", [image, twin], LABELS_1000
    )
    assert "not a directory" in user_error(read_voc_dir, tmp_path / "nowhere", [image], LABELS_1000)


@pytest.mark.parametrize(
    "box, size, expected",
    [
        ((0, 0, 49, 39), (50, 40), None),  # the whole image: fine
        ((-1, 0, 10, 10), (50, 40), "outside"),  # xmin 0 in the file
        ((0, 0, 50, 10), (50, 40), "outside"),  # xmax = width + 1 in the file
        ((0, 0, 10, 40), (50, 40), "outside"),  # ymax = height + 1 in the file
        ((20, 5, 10, 10), (50, 40), "inverted"),  # xmin > xmax
        ((0, 12, 10, 11), (50, 40), "inverted"),  # ymin > ymax
    ],
)
def test_boxes_must_be_upright_and_inside_the_image(tmp_path, box, size, expected):
    path = write_xml(tmp_path / "a.xml", voc_xml("a.png", *size, [("tabby", box)]))
    if expected is None:
        assert read_voc_file(path).objects[0].box == Box(*box)
    else:
        assert expected in user_error(read_voc_file, path)


def test_a_file_without_size_is_checked_against_the_image(tmp_path):
    image = tmp_path / "images" / "a.png"
    image.parent.mkdir()
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(image)
    (tmp_path / "boxes").mkdir()
    write_xml(
        tmp_path / "boxes" / "a.xml",
        voc_xml("a.png", 50, 40, [("tabby", (0, 0, 55, 10))], size=False),
    )
    assert "outside the 50 x 40 image" in user_error(
        read_voc_dir, tmp_path / "boxes", [image], LABELS_1000
    )
    write_xml(tmp_path / "boxes" / "a.xml", voc_xml("a.png", 100, 80, [("tabby", (0, 0, 5, 5))]))
    assert "<size> says 100 x 80" in user_error(
        read_voc_dir, tmp_path / "boxes", [image], LABELS_1000
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<annotation><object><name>tabby</name>", "malformed XML"),
        ("", "malformed XML"),
        ("<html><body/></html>", "not a VOC annotation"),
        ("<annotation></annotation>", "no <object>"),
        ("<annotation><object><name>tabby</name></object></annotation>", "no <bndbox>"),
        ("<annotation><object><bndbox><xmin>1</xmin></bndbox></object></annotation>", "no <name>"),
        (
            "<annotation><object><name>tabby</name><bndbox><xmin>one</xmin><ymin>1</ymin><xmax>2</xmax>"
            "<ymax>2</ymax></bndbox></object></annotation>",
            "not a number",
        ),
        (
            "<annotation><size><width>0</width><height>5</height></size><object><name>tabby</name>"
            "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object>"
            "</annotation>",
            "whole positive pixels",
        ),
    ],
)
def test_malformed_files_are_one_line_errors(tmp_path, text, expected):
    assert expected in user_error(read_voc_file, write_xml(tmp_path / "bad.xml", text))


BILLION_LAUGHS = (
    """<?xml version="1.0"?>
<!DOCTYPE annotation [
 <!ENTITY lol "lol">
"""
    + "".join(
        f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">\n'
        for i in range(1, 10)
    )
    + """]>
<annotation><object><name>&lol9;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax>
<ymax>2</ymax></bndbox></object></annotation>
"""
)


def test_billion_laughs_is_refused_before_it_expands(tmp_path):
    path = write_xml(tmp_path / "bomb.xml", BILLION_LAUGHS)
    assert BILLION_LAUGHS.count("<!ENTITY") == 10  # 10^9 "lol"s if expanded
    start = time.perf_counter()
    message = user_error(read_voc_file, path)
    assert time.perf_counter() - start < 0.5
    assert "document type declaration" in message and "bomb.xml" in message


def test_external_entities_and_utf16_doctypes_are_refused(tmp_path):
    external = (
        '<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY x SYSTEM '
        '"file:///etc/passwd">]><annotation><object><name>&x;</name></object></annotation>'
    )
    assert "document type declaration" in user_error(parse_xml, external.encode(), "ext.xml")
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    assert "document type declaration" in user_error(parse_xml, utf16.encode("utf-16"), "u.xml")
    # a plain UTF-16 file without a DTD is fine
    assert parse_xml('<?xml version="1.0" encoding="UTF-16"?><a>b</a>'.encode("utf-16")).text == "b"


def test_image_size_is_the_upright_size_that_load_image_gives(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 50 wide x 40 high, shown rotated by 90 degrees
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(path, exif=exif)
    height, width = load_image(path).shape[:2]
    assert image_size(path) == (width, height) == (40, 50)
    (tmp_path / "boxes").mkdir()
    write_xml(
        tmp_path / "boxes" / "rotated.xml",
        voc_xml("rotated.jpg", 40, 50, [("tabby", (0, 0, 39, 49))]),
    )
    [annotation] = read_voc_dir(tmp_path / "boxes", [path], LABELS_1000)
    assert annotation.objects[0].box == Box(0, 0, 39, 49)
