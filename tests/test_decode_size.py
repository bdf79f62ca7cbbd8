"""Decoding at the size the network needs: ``load_image(path, min_size)``, ``load_scaled``,
``decode_min_size`` and the crop placed in full-photo coordinates (``crop_and_resize`` with a
reduction factor).

No network: the properties are sizes (the result covers min_size and is the smallest DCT scale
that does, for every EXIF orientation; the factor and full size reported match), content (close to
the full decode reduced by the same factor, or exactly numpy's block mean for non-JPEG files), the
geometry of the crop (a ramp image read back at the right positions), the network input (within
the tolerance measured by benchmarks/decode.py on 12-MP JPEGs), and the bad-input corpus keeping
its outcomes.
"""

import functools
import os

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

import gradcam.images
from gradcam.images import decode_min_size, load_image, load_scaled
from gradcam.preprocessing import crop_and_resize, decode_size

import bad_inputs
from bad_inputs import CASES, expect_user_error
from conftest import photo

ORIENTATION = 0x0112
STORED = (640, 480)  # (width, height) of the test JPEGs as stored in the file
SWAPPED = {5, 6, 7, 8}
# An orientation's upright image from its stored one (the inverse of what the camera did).
UPRIGHT = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: np.transpose(a, (1, 0, 2)),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(np.transpose(a, (1, 0, 2)), 2),
    8: lambda a: np.rot90(a, 1),
}


def _smallest_round_side(size, fraction):
    """Brute force: the first n with round(n * fraction) >= size."""
    return next(n for n in range(1, 100 * size) if round(n * fraction) >= size)


@pytest.mark.parametrize("geometry", ["crop_both", "shorter_side"])
@pytest.mark.parametrize(
    "size,fraction", [(224, 0.875), (299, 0.875), (224, 1.0), (7, 0.3), (100, 0.5), (331, 0.77)]
)
def test_min_size_is_the_smallest_side_whose_crop_keeps_size(geometry, size, fraction):
    side = _smallest_round_side(size, fraction)
    assert decode_min_size(geometry, size, fraction, reducing_gap=1) == (side, side)
    assert decode_min_size(geometry, size, fraction, reducing_gap=2) == (2 * side, 2 * side)
    # the crop of an image that small really has `size` pixels a side, one pixel less has not
    rgb = np.zeros((side, side + 37, 3), np.uint8)
    crop = round(side * fraction)
    assert crop >= size and round((side - 1) * fraction) < size
    assert crop_and_resize(
        rgb, size, "raw" if geometry == "crop_both" else "vgg", fraction
    ).shape == (size, size, 3)


def test_min_size_of_lite0_by_hand():
    assert decode_min_size("shorter_side", 224, 0.875, 1) == (256, 256)  # 256 * 0.875 = 224
    assert decode_min_size("shorter_side", 224, 0.875) == (512, 512)


def test_decode_size_of_a_preprocessing_by_hand():
    assert decode_size("efficientnet_lite", 224) == (512, 512)
    # inception at 299: round(342 * 0.875) = round(299.25) = 299, round(341 * 0.875) = 298
    assert decode_size("inception", 299) == (684, 684)
    assert decode_size("raw", 100) == (200, 200)  # no crop: 100 pixels, twice over
    # round(447 * 0.5) = round(223.5) = 224 (Python rounds half to even), round(446 * 0.5) = 223
    assert decode_size("vgg", 224, central_fraction=0.5) == (894, 894)


@pytest.mark.parametrize(
    "bad",
    [
        ("square", 224, 0.875, 1),
        ("crop_both", 224, 0.0, 1),
        ("crop_both", 224, 1.5, 1),
        ("crop_both", 0, 0.5, 1),
        ("crop_both", 224, 0.5, 0.5),
    ],
)
def test_min_size_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        decode_min_size(*bad)


def _stored_photo():
    return np.asarray(Image.fromarray(photo("chelsea")).resize(STORED, Image.BICUBIC))


def _jpeg(path, stored, orientation=1, quality=95):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(stored).save(path, quality=quality, exif=exif.tobytes())
    return path


def _expected_factors(full_upright, min_size):
    """(DCT scale, then box factor): Pillow's draft takes the largest s in 8, 4, 2 (else 1) with
    s * min <= full on both sides; what is left is box-reduced by the largest whole factor that
    still covers min (nothing below 8 pixels a side, the loader's minimum)."""
    least = [max(m, 8) for m in min_size]
    scale = next((s for s in (8, 4, 2) if all(s * m <= f for m, f in zip(least, full_upright))), 1)
    drafted = [-(-f // scale) for f in full_upright]  # ceil(full / scale)
    return scale, max(1, min(d // m for d, m in zip(drafted, least)))


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("min_size", [(60, 250), (250, 60), (100, 100), (20, 20), (700, 700)])
def test_draft_covers_min_size_for_every_orientation(orientation, min_size, tmp_path):
    stored = _stored_photo()
    path = _jpeg(tmp_path / "photo.jpg", stored, orientation)
    upright = Image.fromarray(np.ascontiguousarray(UPRIGHT[orientation](stored)))
    rgb = load_image(path, min_size)
    scale, factor = _expected_factors(upright.size, min_size)
    scaled = load_scaled(path, min_size)
    assert scaled.factor == scale * factor and scaled.full_size == upright.size
    np.testing.assert_array_equal(scaled.pixels, rgb)
    # content: the upright photo averaged over blocks (what DCT scaling computes), same sizes
    reference = np.asarray(upright.reduce(scale).reduce(factor))
    assert rgb.shape == reference.shape
    assert rgb.shape[1] >= min(min_size[0], upright.width)
    assert rgb.shape[0] >= min(min_size[1], upright.height)
    assert np.abs(rgb.astype(float) - reference).mean() < 4.0


def test_exact_path_unchanged_without_min_size(tmp_path):
    stored = _stored_photo()
    for orientation in (1, 6):
        path = _jpeg(tmp_path / f"o{orientation}.jpg", stored, orientation)
        with Image.open(path) as image:
            expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        assert np.array_equal(load_image(path), expected)
        assert np.array_equal(load_image(path, (10_000, 10_000)), expected)  # nothing to drop


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".webp"])
def test_other_formats_are_block_means(suffix, tmp_path):
    stored = _stored_photo()
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(stored).save(path, **({"lossless": True} if suffix == ".webp" else {}))
    rgb = load_image(path, (100, 100))  # 640 // 100 = 6, 480 // 100 = 4: factor 4
    blocks = stored.reshape(120, 4, 160, 4, 3).mean(axis=(1, 3))
    assert rgb.shape == (120, 160, 3)
    assert np.abs(rgb - blocks).max() <= 0.5 + 1e-9  # rounding only


def test_twelve_megapixel_network_input_within_measured_tolerance(tmp_path):
    """benchmarks/decode.py, reducing_gap 2, crop placed in full-photo coordinates: at most 10
    levels and 0.37 on average over ten 12-MP and boundary-size files (a crop in whole reduced
    pixels: 24 and 1.05); this one (chelsea upscaled, quality 92) must stay within that."""
    path = tmp_path / "camera.jpg"
    camera = ImageOps.fit(Image.fromarray(photo("chelsea")), (4032, 3024), Image.BICUBIC)
    camera.save(path, quality=92)
    scaled = load_scaled(path, decode_min_size("shorter_side", 224, 0.875))
    assert scaled.pixels.shape == (756, 1008, 3)  # 1/4: 1/8 would give 378 < 512
    assert (scaled.factor, scaled.full_size) == (4, (4032, 3024))
    exact = crop_and_resize(load_image(path), 224, "efficientnet_lite").astype(int)
    placed = crop_and_resize(
        scaled.pixels, 224, "efficientnet_lite", None, scaled.factor, scaled.full_size
    )
    diff = np.abs(exact - placed)
    assert diff.max() <= 10 and diff.mean() <= 0.37
    whole_pixels = np.abs(exact - crop_and_resize(scaled.pixels, 224, "efficientnet_lite"))
    assert diff.mean() < whole_pixels.mean()


def _ramp(width, height, slope):
    """uint8 image whose pixel x (any row, any channel) holds slope * x: its value at horizontal
    position u (pixel x spans [x, x + 1)) is slope * (u - 0.5); a block mean keeps that at the
    block's centre."""
    row = (slope * np.arange(width)).astype(np.uint8)
    return np.broadcast_to(row[None, :, None], (height, width, 3))


@pytest.mark.parametrize("geometry", ["vgg", "inception"])
@pytest.mark.parametrize("factor", [2, 4])
def test_reduced_crop_samples_the_full_photo_positions(geometry, factor, tmp_path):
    """A 122 x 102 horizontal ramp (2 levels a pixel), full and reduced by ``factor`` (PNG: exact
    block means, rounded): output column j of a crop [left, left + c) resized to S lies at
    u = left + (j + 0.5) c / S. The full photo's crop reads its value there within rounding (0.5)
    and the uneven first moment of PIL's sampled triangle filter (measured 0.54: bound 0.75), the
    reduced one placed in full coordinates within one rounding more (bound 1.25), away from the
    borders; cut in whole reduced pixels the crop is placed (and sized) off by up to half a
    reduced pixel, one or more full pixels (2+ levels) here."""
    width, height, slope, size = 122, 102, 2, 24
    path = tmp_path / "ramp.png"
    Image.fromarray(np.ascontiguousarray(_ramp(width, height, slope))).save(path)
    scaled = load_scaled(path, (width // factor, height // factor))
    assert scaled.factor == factor and scaled.full_size == (width, height)
    if geometry == "vgg":  # shorter side round(102 * 0.875) = 89, left (122 - 89) // 2 = 16
        left, crop = 16, 89
    else:  # each side: round(122 * 0.875) = 107 wide, left (122 - 107) // 2 = 7
        left, crop = 7, 107
    expected = slope * (left + (np.arange(size) + 0.5) * crop / size - 0.5)
    inner = slice(1, size - 1)  # PIL's filter is cut at the crop's edges
    full = crop_and_resize(load_image(path), size, geometry)[0, :, 0]
    assert np.abs(full[inner] - expected[inner]).max() <= 0.75
    placed = crop_and_resize(scaled.pixels, size, geometry, None, factor, scaled.full_size)
    assert np.abs(placed[0, inner, 0] - expected[inner]).max() <= 1.25
    whole = crop_and_resize(scaled.pixels, size, geometry)[0, :, 0]
    assert np.abs(whole[inner] - expected[inner]).max() > 1.5


def test_factor_one_is_the_crop_in_whole_pixels():
    """The exact path: rows/columns [top, top + c) of the photo, then PIL's bilinear resize
    (vgg geometry on 300 x 200: c = round(200 * 0.875) = 175, top 12, left 62)."""
    rgb = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    expected = np.asarray(
        Image.fromarray(np.ascontiguousarray(rgb[12:187, 62:237])).resize((56, 56), Image.BILINEAR)
    )
    np.testing.assert_array_equal(crop_and_resize(rgb, 56, "vgg"), expected)
    np.testing.assert_array_equal(crop_and_resize(rgb, 56, "vgg", None, 1, (300, 200)), expected)


def _jpeg_declaring(path, width, height):
    """A small real JPEG whose SOF0 header is rewritten to declare width x height."""
    data = bytearray(bad_inputs._jpeg_bytes(_stored_photo()[:64, :64]))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    path.write_bytes(bytes(data))
    return path


def test_jpeg_bomb_refused_from_header_before_any_decoding(tmp_path, monkeypatch):
    path = _jpeg_declaring(tmp_path / "bomb.jpg", 9000, 6000)  # 54 M pixels: over our limit
    with Image.open(path) as image:
        assert image.size == (9000, 6000)
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded a bomb"))
    monkeypatch.setattr(Image.Image, "draft", lambda self, *a: pytest.fail("drafted a bomb"))
    for min_size in (None, (512, 512)):
        expect_user_error(lambda size=min_size: load_image(path, size), "pixel limit")


IS_ROOT = os.geteuid() == 0
FILE_CASES = [
    c
    for c in CASES
    if c.build.__qualname__.startswith("_image_case") and not (c.unprivileged and IS_ROOT)
]


@pytest.mark.parametrize("min_size", [(16, 16), (10_000, 10_000)])
@pytest.mark.parametrize("case", FILE_CASES, ids=[c.name for c in FILE_CASES])
def test_bad_input_corpus_keeps_its_outcomes(case, min_size, tmp_path, monkeypatch, recwarn):
    """Every one-file case of tests/bad_inputs.py through load_image(path, min_size): the same
    error; or an image covering min_size, which passes the case's own check when not reduced."""
    (tmp_path / "exact").mkdir()
    (tmp_path / "reduced").mkdir()
    exact_api = case.build(tmp_path / "exact", None).api
    with monkeypatch.context() as patch:  # the case binds load_image when it is built
        reduced = functools.partial(load_image, min_size=min_size)
        patch.setattr(gradcam.images, "load_image", reduced)
        built = case.build(tmp_path / "reduced", None)
    if case.expect == "error":
        expect_user_error(lambda: built.api(None), case.says)
        return
    exact, rgb = exact_api(None), built.api(None)
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.shape[0] >= min(min_size[1], exact.shape[0])
    assert rgb.shape[1] >= min(min_size[0], exact.shape[1])
    if min_size[0] >= max(exact.shape):
        assert np.array_equal(rgb, exact)
        built.check(rgb)


def test_reduction_stops_at_min_side(tmp_path):
    path = _jpeg(tmp_path / "small.jpg", np.ascontiguousarray(_stored_photo()[:40, :40]))
    assert load_image(path, (1, 1)).shape == (10, 10, 3)  # 1/4 of 40; 1/8 would be below 8


def test_jpeg_is_reduced_by_the_decoder_itself(tmp_path, monkeypatch):
    """The pixels libjpeg produces are already the 1/4 image (no full decode, then a reduce)."""
    path = _jpeg(tmp_path / "photo.jpg", _stored_photo())
    decoded, load = [], ImageFile.ImageFile.load

    def spy(image):
        pixels = load(image)
        decoded.append(image.im.size)
        return pixels

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    assert load_image(path, (100, 100)).shape == (120, 160, 3)
    assert decoded and set(decoded) == {(160, 120)}
