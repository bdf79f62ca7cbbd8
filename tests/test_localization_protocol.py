"""Weakly-supervised localisation and pointing game on a synthetic box set (objects pasted at
known places on a texture, non-square images, written as PNG + VOC XML), with maps given by hand
and every expected figure worked out by hand in the comments."""

import json

import numpy as np
import pytest

from gradcam.evaluation.boxes import Box, boxes_by_class, read_voc_dir
from gradcam.evaluation.localization import (
    LocalizationRecord,
    aggregate,
    best_iou,
    box_from_map,
    class_mean,
    distance_to_box,
    iou,
    localize,
    peak,
    pointing_hit,
    resize_whole,
    upsample_map,
)
from gradcam.labels import imagenet_labels

from synthetic_boxes import (
    COCK,
    HAND_TOP5,
    TABBY,
    TENCH,
    TIGER_CAT,
    hand_maps,
    scene,
    write_hand_set,
)

LABELS = list(imagenet_labels())


# --- resizing and upsampling -------------------------------------------------------------------


def test_resize_whole_keeps_the_whole_non_square_image():
    # 120 x 80 (W x H): green patch in the top-left corner (12 x 12), blue in the bottom-right
    # corner, red object on rows 20..59, columns 30..89. To 40 x 40: x / 3, y / 2.
    objects = [("red", (30, 20, 89, 59)), ("green", (0, 0, 11, 11)), ("blue", (108, 68, 119, 79))]
    small = resize_whole(scene(120, 80, objects), 40)
    assert small.shape == (40, 40, 3) and small.dtype == np.uint8
    # Output pixel (r, c) has its centre at source x = 3 (c + 0.5), y = 2 (r + 0.5); PIL's
    # bilinear filter reaches +-3 source pixels in x and +-2 in y when shrinking so:
    assert (small[20, 20] == (255, 0, 0)).all()  # x 61.5 +- 3, y 41 +- 2: inside the object
    assert (small[0, 0] == (0, 255, 0)).all()  # x 1.5 +- 3, y 1 +- 2: inside the green patch
    assert (small[39, 39] == (0, 0, 255)).all()  # the corner patches survive: no crop
    # object's footprint: columns 10..29 and rows 10..29 of the small image are mostly red
    assert (small[12:28, 12:28] == (255, 0, 0)).all()


def test_upsample_map_is_bilinear_with_pixel_centres():
    ramp = np.tile(np.arange(4.0), (3, 1))  # value = column index, 3 x 4
    up = upsample_map(ramp, 6, 16)
    assert up.shape == (6, 16)
    # output column x samples source x' = (x + 0.5) * 4 / 16 - 0.5, clamped to [0, 3]
    expected = np.clip((np.arange(16) + 0.5) / 4 - 0.5, 0, 3)
    np.testing.assert_allclose(up, np.tile(expected, (6, 1)), atol=1e-6)
    np.testing.assert_allclose(upsample_map(np.full((7, 7), 0.3), 20, 11), 0.3, atol=1e-6)
    np.testing.assert_allclose(upsample_map(ramp, 3, 4), ramp, atol=1e-6)


# --- boxes from maps ---------------------------------------------------------------------------


def test_box_of_the_largest_component_not_of_the_maximum():
    saliency = np.zeros((50, 60))
    saliency[2:5, 2:5] = 1.0  # 9 pixels holding the maximum
    saliency[20:40, 10:50] = 0.5  # 800 pixels at half the maximum, above 15%
    assert box_from_map(saliency) == Box(10, 20, 49, 39)


def test_components_are_eight_connected():
    # two 5 x 5 squares touching only at a corner: one 8-connected component (50 pixels)
    # spanning both, larger than the 30-pixel bar elsewhere
    saliency = np.zeros((30, 30))
    saliency[0:5, 0:5] = 1.0
    saliency[5:10, 5:10] = 1.0
    saliency[20, 0:30] = 1.0
    assert box_from_map(saliency) == Box(0, 0, 9, 9)


def test_threshold_is_a_fraction_of_the_maximum_inclusive():
    saliency = np.zeros((10, 10))
    saliency[4:6, 4:6] = 2.0
    saliency[4, 6] = 0.3  # exactly 15% of 2.0: joins (M >= 0.15 max)
    saliency[4, 3] = 0.299  # just below: stays out
    assert box_from_map(saliency) == Box(4, 4, 6, 5)
    assert box_from_map(saliency, threshold=0.2) == Box(4, 4, 5, 5)  # 0.3 < 0.4 now


def test_empty_and_broken_maps():
    assert box_from_map(np.zeros((8, 9))) is None
    assert box_from_map(-np.ones((8, 9))) is None  # no positive value: empty too
    assert peak(np.zeros((8, 9))) is None
    with pytest.raises(ValueError):
        box_from_map(np.full((4, 4), np.nan))
    with pytest.raises(ValueError):
        box_from_map(np.ones((4, 4)), threshold=1.5)


def test_iou_counts_inclusive_pixels():
    assert iou(Box(0, 0, 9, 9), Box(0, 0, 9, 9)) == 1.0
    # 10 x 10 boxes overlapping on 5 x 5 pixels: 25 / (100 + 100 - 25) = 1 / 7
    assert iou(Box(0, 0, 9, 9), Box(5, 5, 14, 14)) == pytest.approx(1 / 7)
    assert iou(Box(3, 3, 3, 3), Box(3, 3, 3, 3)) == 1.0  # a one-pixel box has area 1
    assert iou(Box(0, 0, 4, 4), Box(5, 0, 9, 4)) == 0.0  # side by side, no shared pixel
    # the best of several ground-truth boxes; no predicted box scores 0
    assert best_iou(Box(0, 0, 9, 9), [Box(50, 50, 60, 60), Box(0, 0, 9, 4)]) == 0.5
    assert best_iou(None, [Box(0, 0, 9, 9)]) == 0.0


# --- pointing game -----------------------------------------------------------------------------


def test_pointing_distance_is_euclidean_to_the_nearest_box_pixel():
    box = Box(20, 30, 40, 50)
    assert distance_to_box((40, 30), box) == 0.0  # inside
    assert distance_to_box((62, 49), box) == 15.0  # 12 below, 9 right: 15
    assert pointing_hit((62, 49), [box]) is True  # within 15 (inclusive)
    assert pointing_hit((40, 56), [box]) is False  # 16 to the right
    assert distance_to_box((61, 51), box) == pytest.approx(np.hypot(11, 11))  # 15.56
    assert pointing_hit((61, 51), [box]) is False  # each axis < 15, Euclidean distance > 15
    assert pointing_hit((61, 51), [Box(0, 0, 1, 1), Box(45, 55, 50, 60)]) is True  # any box
    assert pointing_hit(None, [box]) is False


def test_a_tied_maximum_points_with_its_first_pixel_in_raster_order():
    box = Box(0, 30, 20, 60)  # columns 0..20, rows 30..60
    saliency = np.zeros((80, 120))
    saliency[10, 100] = saliency[40, 10] = 1.0  # two maxima: far away (row 10), inside (row 40)
    assert peak(saliency) == (10, 100)  # row 10 comes first
    assert pointing_hit(peak(saliency), [box]) is False
    saliency[10, 100] = 0.0
    saliency[70, 100] = 1.0  # now the inside one (row 40) comes first
    assert peak(saliency) == (40, 10) and pointing_hit(peak(saliency), [box]) is True


# --- whole protocol on the synthetic box set ---------------------------------------------------


@pytest.fixture
def box_set(tmp_path):
    """The hand-worked set of synthetic_boxes (three images of three shapes, four (image, class)
    pairs): A 120 x 80, a tiger cat at columns 30..89, rows 20..59; B 100 x 60, two tabbies
    (5..24 x 5..24 and 60..89 x 10..49) and a cock (40..50 x 30..40); C 60 x 90 (portrait), a
    tench in the bottom-right corner, on the border (40..59 x 70..89)."""
    images = write_hand_set(tmp_path)
    annotations = read_voc_dir(tmp_path / "boxes", images, LABELS)
    return {image.stem: boxes_by_class(a) for image, a in zip(images, annotations)}


def test_synthetic_set_figures_worked_out_by_hand(box_set):
    assert box_set["b"] == {
        TABBY: [Box(5, 5, 24, 24), Box(60, 10, 89, 49)],
        COCK: [Box(40, 30, 50, 40)],
    }
    # A, tiger cat: the map is the object's rectangle, peak at its first pixel (20, 30).
    #   IoU 1 -> box right; top-5 [282, ...]: top-1 right; pointing hit.
    # B, tabby: the map is the second tabby's rectangle: best IoU over the two boxes = 1; the
    #   model's top-5 is [7, 281, ...]: not top-1, but top-5. Pointing hit.
    # B, cock: an all-zero map: no box (wrong), no peak (miss). Cock is top-1, but its box is
    #   wrong, so this pair is a top-1 and a top-5 localisation error.
    # C, tench, on the border: the map covers columns 30..59, rows 60..89 (900 pixels) around
    #   the 400-pixel box: IoU 400 / 900 = 0.444 < 0.5, wrong. Its maximum ties between (0, 0)
    #   and (80, 50) (inside): the first in raster order, (0, 0), is 70 rows away: miss.
    maps = hand_maps()
    records = [
        localize(stem, target, maps[stem, target], box_set[stem][target], HAND_TOP5[stem])
        for stem, target in (("a", TIGER_CAT), ("b", TABBY), ("b", COCK), ("c", TENCH))
    ]
    a, b_tabby, b_cock, c = records
    assert (a.predicted_box, a.iou, a.box_correct, a.point, a.pointing_hit, a.top1, a.top5) == (
        Box(30, 20, 89, 59),
        1.0,
        True,
        (20, 30),
        True,
        True,
        True,
    )
    assert (b_tabby.iou, b_tabby.box_correct, b_tabby.top1, b_tabby.top5) == (
        1.0,
        True,
        False,
        True,
    )
    assert (b_cock.predicted_box, b_cock.box_correct, b_cock.point, b_cock.pointing_hit) == (
        None,
        False,
        None,
        False,
    )
    # the lone maximal pixel (0, 0) is a component of 1 pixel; the 900-pixel rectangle wins
    assert (c.predicted_box, c.iou, c.box_correct) == (
        Box(30, 60, 59, 89),
        pytest.approx(4 / 9),
        False,
    )
    assert (c.point, c.pointing_hit, c.top1) == ((0, 0), False, True)

    # Each image counts once, shared among its classes (ILSVRC weighting):
    #   gt-known:  A 1, B (1 + 0) / 2, C 0        -> 1.5 / 3 = 0.5
    #   top-1 ok:  A 1, B (0 + 0) / 2, C 0        -> 1 / 3, error 2 / 3
    #   top-5 ok:  A 1, B (1 + 0) / 2, C 0        -> 0.5, error 0.5
    #   pointing:  A 1, B (1 + 0) / 2, C 0        -> 0.5
    figures = aggregate(records)
    assert figures["gt_known_loc_accuracy"] == pytest.approx(0.5)
    assert figures["top1_loc_error"] == pytest.approx(2 / 3)
    assert figures["top5_loc_error"] == pytest.approx(0.5)
    assert figures["pointing_game_accuracy"] == pytest.approx(0.5)
    assert (figures["images"], figures["records"]) == (3, 4)
    #   classification alone, top-1: A 1, B (0 + 1) / 2 (cock is top-1, tabby is not), C 1
    #   -> 2.5 / 3, error 1 / 6; top-5: every class is among its image's top-5 -> error 0
    assert figures["top1_cls_error"] == pytest.approx(1 / 6)
    assert figures["top5_cls_error"] == pytest.approx(0.0)
    # per-image records are JSON-ready, boxes back in the files' 1-based convention
    row = json.loads(json.dumps(a.as_dict()))
    assert row["predicted_box_voc"] == [31, 21, 90, 60] and row["point"] == [20, 30]
    assert json.loads(json.dumps(b_cock.as_dict()))["predicted_box_voc"] is None


def test_network_resolution_map_upsampled_to_the_non_square_image(box_set):
    # A 40 x 40 network-resolution map with ones on rows and columns 10..29 (the tiger cat's box
    # of image A, 120 x 80, scaled by 1/3 in x and 1/2 in y). Bilinear upsampling to 80 x 120:
    # column x samples x' = (x + 0.5) / 3 - 0.5, which is >= 9.15 (value >= 0.15) from x = 29
    # and <= 29.85 up to x = 90; rows y' = (y + 0.5) / 2 - 0.5: from y = 19 to y = 60.
    # Box (29, 19, 90, 60) against (30, 20, 89, 59): IoU 60 * 40 / (62 * 42) = 0.9217.
    small = np.zeros((40, 40))
    small[10:30, 10:30] = 1.0
    saliency = upsample_map(small, 80, 120)
    record = localize("a", TIGER_CAT, saliency, box_set["a"][TIGER_CAT], [TIGER_CAT])
    assert record.predicted_box == Box(29, 19, 90, 60)
    assert record.iou == pytest.approx(2400 / 2604)
    assert record.box_correct and record.pointing_hit and record.top1


def test_pointing_class_mean_differs_from_the_image_weighted_figure():
    def record(image, target, hit):
        return LocalizationRecord(image, target, None, 0.0, False, None, hit, False, False)

    records = [record("x", 1, True), record("y", 1, True), record("z", 2, False)]
    assert aggregate(records)["pointing_game_accuracy"] == pytest.approx(2 / 3)
    # class 1: 2 / 2, class 2: 0 / 1 -> (1 + 0) / 2
    assert aggregate(records)["pointing_game_class_mean_accuracy"] == pytest.approx(0.5)
    assert class_mean(records, lambda r: r.pointing_hit) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        aggregate([])
