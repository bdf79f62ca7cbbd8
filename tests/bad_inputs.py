"""A generated corpus of bad (and awkward but valid) inputs for ``gradcam explain`` and the API.

Each ``Case`` writes its own files into a directory and says what must happen:

- ``error``: the CLI prints exactly one line ``gradcam: error: ...`` containing ``says``, exits 2,
  and writes nothing; the API call raises ``UserError`` containing ``says``.
- ``ok``: the CLI exits 0 and writes the PNG and NPZ (plus one ``gradcam: warning:`` line
  containing ``says`` when ``says`` is set), flagged degenerate exactly when ``degenerate`` is
  set; the API returns a value (image or explanation) that ``check`` accepts.

Nothing here is stored: every file is built from scratch (PIL/numpy), so the count is visible.
"""

import io
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from gradcam.errors import UserError

ROOT_NOTE = (
    "root reads and writes regardless of mode bits, so as root this case runs as the "
    "'nobody' user in a subprocess"
)


@dataclass
class Built:
    argv: list  # CLI arguments after "explain" (output options are added by the test if absent)
    api: Callable  # api(model) -> RGB array or Explanation (ok), or raises UserError (error)
    check: Optional[Callable] = None  # check(value) for ok cases: asserts the content is right
    env: dict = None  # environment variables the case needs


@dataclass
class Case:
    name: str
    expect: str  # "error" | "ok"
    says: str  # substring of the error line, or of the warning line ("" = no warning)
    build: Callable  # build(directory, lite0_checkpoint) -> Built
    unprivileged: bool = False  # must run as a non-root user to fail (see ROOT_NOTE)
    cli_only: bool = False  # an option of the command line only (no API counterpart)
    degenerate: bool = False  # ok cases: the map must be all zero and flagged
    api_says: Optional[str] = None  # the API's words where they differ (arguments, not flags)

    @property
    def api_substring(self):
        return self.api_says or self.says


# -- image builders --------------------------------------------------------------------------------
def _photo(width=96, height=64):
    import skimage.data

    return np.asarray(Image.fromarray(skimage.data.chelsea()).resize((width, height)))


def _save(path, image, **options):
    image.save(path, **options)
    return path


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width, height):
    """A tiny PNG that declares width x height RGB pixels (a decompression bomb, cheaply)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + _png_chunk(b"IEND", b"")
    )


def _png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg_bytes(array, **options):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=95, **options)
    return buffer.getvalue()


def _load_via_api(path):
    from gradcam.images import load_image

    return lambda model: load_image(path)


def _image_case(name, expect, says, write, check=None, unprivileged=False):
    """A case whose only input is one image file written by ``write(directory) -> path``."""

    def build(directory, _checkpoint):
        path = write(directory)
        return Built([str(path)], _load_via_api(path), check)

    return Case(name, expect, says, build, unprivileged=unprivileged)


def _write_bytes(name, data):
    def write(directory):
        path = directory / name
        path.write_bytes(data() if callable(data) else data)
        return path

    return write


def _write_image(name, make, **options):
    def write(directory):
        return _save(directory / name, make(), **options)

    return write


def _bad_crc_png():
    data = bytearray(_png_bytes(_photo()))
    data[29] ^= 0xFF  # first byte of the IHDR chunk's CRC (8 signature + 8 + 13 data bytes)
    return bytes(data)


def _bad_idat_png():
    data = bytearray(_png_bytes(_photo()))
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 60] = b"\xff" * 50  # damage the compressed pixels, not the header
    return bytes(data)


def _dangling_gif():
    """A GIF whose trailer byte ';' became '!' (an extension introducer, then end of file): PIL
    raised IndexError while counting frames, found by scripts/fuzz_images.py."""
    buffer = io.BytesIO()
    Image.fromarray(_photo()).convert("P").save(buffer, format="GIF")
    return buffer.getvalue()[:-1] + b"!"


def _exif_rotated(orientation):
    """JPEG whose stored pixels are the photo turned so that EXIF ``orientation`` puts it upright."""
    upright = _photo()
    stored = np.rot90(upright, 1 if orientation == 6 else -1)  # 6: display turns 90 deg clockwise
    exif = Image.Exif()
    exif[0x0112] = orientation

    def write(directory):
        path = directory / f"rotated{orientation}.jpg"
        path.write_bytes(_jpeg_bytes(np.ascontiguousarray(stored), exif=exif.tobytes()))
        return path

    def check(rgb):
        assert rgb.shape == upright.shape, f"orientation not applied: {rgb.shape}"
        assert np.abs(rgb.astype(int) - upright).mean() < 6.0

    return write, check


def _gif_first_frame():
    """Red left half, green right half (a frame with content: a one-colour one is 'constant')."""
    frame = np.zeros((32, 32, 3), np.uint8)
    frame[:, :16, 0] = 255
    frame[:, 16:, 1] = 255
    return frame


def _wide_strip():
    """10000 x 8 pixels whose colour changes from pixel to pixel along the strip (so its centre
    crop is not one colour either)."""
    ramp = (np.arange(10000) * 37 % 256).astype(np.uint8)
    return np.stack(
        [
            np.broadcast_to(ramp, (8, 10000)),
            np.full((8, 10000), 99, np.uint8),
            np.broadcast_to(ramp[::-1], (8, 10000)),
        ],
        axis=-1,
    )


def _animated_gif(directory):
    frames = [Image.fromarray(_gif_first_frame()), Image.new("RGB", (32, 32), (0, 0, 255))]
    path = directory / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def _close_to(expected, tolerance=0.0):
    def check(rgb):
        assert rgb.shape == expected.shape and rgb.dtype == np.uint8
        assert np.abs(rgb.astype(float) - expected).mean() <= tolerance

    return check


def _grey16():
    return (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)


def _rgba():
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:, 16:] = (200, 30, 40, 255)  # right half opaque red, left half fully transparent
    return rgba


def _palette():
    return Image.fromarray(_photo()).quantize(16)


def _float_with_nan():
    values = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    values[:4] = np.nan
    return values


def _image_cases():
    photo = _photo()
    exif6, check6 = _exif_rotated(6)
    exif8, check8 = _exif_rotated(8)
    grey = photo.mean(axis=2).astype(np.uint8)
    rgba_expected = np.where(_rgba()[..., 3:] > 0, _rgba()[..., :3], 255).astype(np.uint8)
    float_expected = np.nan_to_num(_float_with_nan()) * 255
    return [
        _image_case("empty file", "error", "empty file", _write_bytes("empty.jpg", b"")),
        _image_case(
            "text file named .jpg",
            "error",
            "not an image",
            _write_bytes("notes.jpg", b"this is not a picture\n" * 20),
        ),
        _image_case(
            "truncated JPEG",
            "error",
            "damaged image",
            _write_bytes("cut.jpg", lambda: _jpeg_bytes(_photo())[:1500]),
        ),
        _image_case(
            "PNG with bad header CRC",
            "error",
            "damaged image",
            _write_bytes("crc.png", _bad_crc_png),
        ),
        _image_case(
            "PNG with damaged pixel data",
            "error",
            "damaged image",
            _write_bytes("idat.png", _bad_idat_png),
        ),
        _image_case(
            "1x1 image",
            "error",
            "too small",
            _write_image("dot.png", lambda: Image.new("RGB", (1, 1))),
        ),
        _image_case(
            "10000x1 strip",
            "error",
            "too small",
            _write_image("strip.png", lambda: Image.new("RGB", (10000, 1))),
        ),
        _image_case(
            "decompression bomb 30000x30000 header",
            "error",
            "pixel limit",
            _write_bytes("bomb.png", png_header_only(30000, 30000)),
        ),
        _image_case(
            "8000x8000 header (over our limit, under PIL's)",
            "error",
            "pixel limit",
            _write_bytes("big.png", png_header_only(8000, 8000)),
        ),
        _image_case(
            "directory given as image",
            "error",
            "is a directory",
            lambda d: (d / "folder.png").mkdir() or d / "folder.png",
        ),
        _image_case("missing file", "error", "no such file", lambda d: d / "missing.png"),
        _image_case(
            "unreadable file (mode 000)",
            "error",
            "permission denied",
            lambda d: _unreadable(d / "secret.png"),
            unprivileged=True,
        ),
        _image_case(
            "GIF ending in a dangling extension (fuzz finding)",
            "error",
            "damaged image",
            _write_bytes("dangling.gif", _dangling_gif),
        ),
        _image_case(
            "CMYK JPEG",
            "ok",
            "",
            _write_bytes("cmyk.jpg", lambda: _cmyk_jpeg(photo)),
            _close_to(photo, 8.0),
        ),
        _image_case(
            "16-bit grey PNG",
            "ok",
            "",
            _write_image("grey16.png", lambda: Image.fromarray(_grey16())),
            _close_to(np.repeat((_grey16() / 257.0).round()[..., None], 3, 2)),
        ),
        _image_case(
            "RGBA PNG (transparency on white)",
            "ok",
            "",
            _write_image("rgba.png", lambda: Image.fromarray(_rgba())),
            _close_to(rgba_expected),
        ),
        _image_case(
            "palette PNG",
            "ok",
            "",
            _write_image("palette.png", _palette),
            _close_to(np.asarray(_palette().convert("RGB"))),
        ),
        _image_case(
            "greyscale PNG",
            "ok",
            "",
            _write_image("grey.png", lambda: Image.fromarray(grey)),
            _close_to(np.repeat(grey[..., None], 3, 2)),
        ),
        _image_case(
            "float TIFF with NaN",
            "ok",
            "",
            _write_image("float.tiff", lambda: Image.fromarray(_float_with_nan(), "F")),
            _close_to(np.repeat(float_expected.round()[..., None], 3, 2), 0.5),
        ),
        _image_case(
            "10000x8 strip (centre crop)",
            "ok",
            "",
            _write_image("wide.png", lambda: Image.fromarray(_wide_strip())),
            _close_to(_wide_strip()),
        ),
        _image_case("EXIF Orientation=6 photo", "ok", "", exif6, check6),
        _image_case("EXIF Orientation=8 photo", "ok", "", exif8, check8),
        _image_case(
            "animated GIF (first frame)",
            "ok",
            "frames, explaining the first",
            _animated_gif,
            _close_to(_gif_first_frame(), 1.0),
        ),
        _image_case(
            "PNG named .jpg",
            "ok",
            "",
            _write_bytes("really_png.jpg", lambda: _png_bytes(photo)),
            _close_to(photo),
        ),
        _constant_image_case(),
    ]


def _constant_image_case():
    """A flat grey photo: no evidence for any class, so an all-zero map and a warning."""

    def build(directory, _checkpoint):
        path = _save(directory / "grey.png", Image.new("RGB", (96, 64), (128, 128, 128)))
        return Built([str(path)], _explain_file(path), _all_zero_and_flagged)

    return Case("constant grey image", "ok", "images are constant", build, degenerate=True)


def _explain_file(path):
    def api(model):
        from gradcam.explanation import explain
        from gradcam.images import load_image

        return explain(model, model.prepare(load_image(path))[None], None)

    return api


def _all_zero_and_flagged(result):
    assert result.degenerate.tolist() == [True] and not result.map.any()


def _cmyk_jpeg(rgb):
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _unreadable(path):
    path.write_bytes(_png_bytes(_photo()))
    path.chmod(0)
    return path


# -- output, class, model and checkpoint cases -----------------------------------------------------
def _good_png(directory):
    path = directory / "good.png"
    path.write_bytes(_png_bytes(_photo()))
    return path


def _explain_api(**options):
    def api(model):
        from gradcam.explanation import explain

        image = np.zeros((1, model.image_size, model.image_size, 3), np.uint8)
        return explain(model, image, **{"target": 0, **options})

    return api


def _other_case(name, says, build, unprivileged=False, cli_only=False, api_says=None):
    return Case(name, "error", says, build, unprivileged, cli_only, api_says=api_says)


def _output_case(name, says, output, unprivileged=False):
    def build(directory, _checkpoint):
        target = output(directory)
        from gradcam.visualize import save_png

        return Built(
            [str(_good_png(directory)), "--output", str(target)],
            lambda model: save_png(target, np.zeros((8, 8, 3), np.uint8)),
        )

    return _other_case(name, says, build, unprivileged=unprivileged)


def _read_only_dir(directory):
    folder = directory / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder / "out.png"


def _copy_checkpoint(directory, checkpoint, damage):
    copy = directory / "ckpt"
    copy.mkdir()
    for file in Path(checkpoint).parent.glob(Path(checkpoint).name + ".*"):
        shutil.copy(file, copy / file.name)
    prefix = copy / Path(checkpoint).name
    damage(prefix)
    return prefix


def _garbage_index(prefix):
    Path(f"{prefix}.index").write_bytes(os.urandom(4096))


def _truncate_data(prefix):
    data = next(prefix.parent.glob(prefix.name + ".data-*"))
    with open(data, "r+b") as handle:
        handle.truncate(data.stat().st_size // 2)


def _checkpoint_case(name, says, damage):
    def build(directory, checkpoint):
        prefix = _copy_checkpoint(directory, checkpoint, damage)
        from gradcam.model import Model

        return Built(
            [str(_good_png(directory)), "--checkpoint", str(prefix)],
            lambda model: Model(checkpoint=str(prefix)),
        )

    return _other_case(name, says, build)


def _cli_only(name, says, argv):
    def build(directory, _checkpoint):
        return Built([str(_good_png(directory)), *argv], None)

    return _other_case(name, says, build, cli_only=True)


def _model_call(argv, **kwargs):
    def build(directory, checkpoint):
        from gradcam.model import Model

        resolved = {k: (checkpoint if v == "LITE0" else v) for k, v in kwargs.items()}
        cli = [a.replace("LITE0", checkpoint) for a in argv]
        return Built([str(_good_png(directory)), *cli], lambda model: Model(**resolved))

    return build


def _missing_default_checkpoint(directory, _checkpoint):
    from gradcam.model import Model

    env = {"GRADCAM_HOME": str(directory / "no_checkpoints")}
    return Built(
        [str(_good_png(directory)), "--model", "resnet_v2_50"],
        lambda model: Model("resnet_v2_50"),
        env=env,
    )


def _bad_label_file(directory, _checkpoint):
    from gradcam.labels import read_label_file

    labels = directory / "labels.txt"
    labels.write_text("0:cat\nthis line has no id\n")
    return Built(
        [str(_good_png(directory)), "--num-classes", "1000", "--labels", str(labels)],
        lambda model: read_label_file(labels, 1000),
    )


def _several_images_one_missing(directory, _checkpoint):
    return Built([str(_good_png(directory)), str(directory / "missing.png")], None)


def _good_then_truncated(directory, _checkpoint):
    cut = _write_bytes("cut.jpg", lambda: _jpeg_bytes(_photo())[:1500])(directory)
    return Built([str(_good_png(directory)), str(cut)], None)


def _other_cases():
    return [
        _output_case(
            "output in a missing directory",
            "does not exist",
            lambda d: d / "no" / "such" / "out.png",
        ),
        _output_case(
            "output in a read-only directory", "not writable", _read_only_dir, unprivileged=True
        ),
        _cli_only("output that is not a .png", "expected a .png", ["--output", "result.jpg"]),
        _other_case(
            "second of two images missing (nothing written)",
            "no such file",
            _several_images_one_missing,
            cli_only=True,
        ),
        _other_case(
            "good image then a truncated JPEG (nothing written)",
            "cut.jpg: damaged image",
            _good_then_truncated,
            cli_only=True,
        ),
        _other_case(
            "unknown class name",
            "did you mean: tabby cat",
            lambda d, c: Built(
                [str(_good_png(d)), "--class", "tabby kat"],
                lambda model: model.class_index("tabby kat"),
            ),
        ),
        _other_case(
            "class index out of range",
            "out of range 0..999",
            lambda d, c: Built([str(_good_png(d)), "--class", "1000"], _explain_api(target=1000)),
        ),
        _other_case(
            "unknown layer",
            "unknown layer 'heda'",
            lambda d, c: Built([str(_good_png(d)), "--layer", "heda"], _explain_api(layer="heda")),
        ),
        _other_case(
            "unknown model",
            "resnet_v2_50",
            _model_call(["--model", "resnet_v9"], network="resnet_v9"),
        ),
        _cli_only("--top-k 0", "--top-k must be at least 1", ["--top-k", "0"]),
        _other_case(
            "central fraction above 1",
            "--central-fraction must be in (0, 1]",
            lambda d, c: Built(
                [str(_good_png(d)), "--central-fraction", "2"],
                lambda model: model.prepare(_photo(), 2.0),
            ),
            api_says="central_fraction must be in (0, 1]",
        ),
        _other_case("label file with a bad line", "expected 'id:name'", _bad_label_file),
        _other_case(
            "missing checkpoint file",
            "checkpoint not found",
            _model_call(
                ["--checkpoint", "/nonexistent/model.ckpt"], checkpoint="/nonexistent/model.ckpt"
            ),
        ),
        _other_case(
            "no default checkpoint (says where to get it)",
            "run 'gradcam download resnet_v2_50' (fetches http://download."
            "tensorflow.org/models/resnet_v2_50_2017_04_14.tar.gz)",
            _missing_default_checkpoint,
        ),
        _other_case(
            "checkpoint of the wrong network",
            "first: InceptionV1/",
            _model_call(
                ["--model", "inception_v1", "--checkpoint", "LITE0"],
                network="inception_v1",
                checkpoint="LITE0",
            ),
        ),
        _other_case(
            "checkpoint with another class count",
            "the checkpoint has 1000 classes: pass --num-classes with that number",
            _model_call(["--num-classes", "10"], num_classes=10),
            api_says="the checkpoint has 1000 classes: pass num_classes with that number",
        ),
        _checkpoint_case(
            "checkpoint with a garbage .index", "cannot read checkpoint", _garbage_index
        ),
        _checkpoint_case(
            "checkpoint with a truncated .data", "damaged or truncated", _truncate_data
        ),
    ]


CASES = _image_cases() + _other_cases()


def expect_user_error(call, says):
    """Run ``call``; it must raise UserError whose message contains ``says``."""
    try:
        call()
    except UserError as exc:
        assert says in str(exc), f"{says!r} not in {str(exc)!r}"
        return str(exc)
    raise AssertionError(f"no UserError (expected one saying {says!r})")


def case_named(name):
    return next(case for case in CASES if case.name == name)


def output_argv(argv, out):
    """The case's arguments plus a fresh output directory, NPZ and JSON (unless it sets --output)."""
    extra = [] if "--output" in argv else ["--output", f"{out}/", "--save-npz", "--json"]
    return ["explain", *argv, *extra]


# Modules explain never imports: the web app and Beam's side (they import gradio or apache_beam,
# whose import logs warnings of its own)
BEAM_OR_SERVER = (
    "gradcam.app",
    "gradcam.beam_pipeline",
    "gradcam.storage",
    "gradcam.remote",
    "gradcam.worker_options",
)


def _become_nobody(out):
    """Drop root privileges for the rest of the process (the interpreter under /root stays
    loaded; everything the case needs is imported before, since the checkout itself may not be
    readable by 'nobody', e.g. a clone in a mkdtemp folder)."""
    import importlib
    import pkgutil
    import pwd

    import gradcam
    from gradcam.cli import build_parser

    build_parser()
    for module in pkgutil.walk_packages(gradcam.__path__, "gradcam."):
        if module.name not in BEAM_OR_SERVER:
            importlib.import_module(module.name)
    Image.init()
    nobody = pwd.getpwnam("nobody")
    out.chmod(0o777)
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def run_in_child(name, base, checkpoint, as_nobody=""):
    """Entry point of ``python -c`` subprocesses: build case ``name`` under ``base``, run the CLI
    (its stderr is the process's) and the API, and print a JSON summary as the last stdout line.
    ``as_nobody``: run the CLI and API as the 'nobody' user (see ROOT_NOTE)."""
    import json
    import sys

    from gradcam.cli import main

    case = case_named(name)
    inputs, out = Path(base) / "in", Path(base) / "out"
    inputs.mkdir()
    out.mkdir()
    built = case.build(inputs, checkpoint)
    os.environ.update(built.env or {})
    if as_nobody:
        _become_nobody(out)
    os.chdir(out)
    status = main(output_argv(built.argv, out))
    api_message = (
        None
        if built.api is None
        else expect_user_error(lambda: built.api(None), case.api_substring)
    )
    sys.stderr.flush()
    print(json.dumps({"status": status, "api": api_message, "written": sorted(os.listdir(out))}))


def reusing_model(lite0, real):
    """A ``Model`` stand-in that returns the session's Lite0 for the default arguments (building it
    per CLI call would take minutes) and builds any other network, checkpoint or head for real."""

    def model(
        network="efficientnet_lite0",
        checkpoint=None,
        *,
        num_classes=None,
        labels=None,
        threads=None,
        input_size=None,
    ):
        given = (network, checkpoint, num_classes, labels, input_size)
        if given == ("efficientnet_lite0", None, None, None, None):
            return lite0
        return real(
            network,
            checkpoint,
            num_classes=num_classes,
            labels=labels,
            threads=threads,
            input_size=input_size,
        )

    return model
