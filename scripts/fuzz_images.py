"""Bounded mutation fuzzing of ``gradcam.images.load_image``: any exception other than
``UserError`` (or a result that is not RGB uint8) is a finding, saved for a regression case.

    python scripts/fuzz_images.py [--seconds 120] [--seed 0] [--findings fuzz_findings/]

Seeds are small valid PNG, JPEG (plain, progressive, CMYK, EXIF-rotated), GIF, BMP, TIFF and WebP
files made here; each iteration flips, overwrites, inserts, deletes or truncates bytes of one.
"""

import argparse
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gradcam.errors import UserError  # noqa: E402
from gradcam.images import load_image  # noqa: E402


def _seeds():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    variants = [
        (rgb, "PNG", {}),
        (rgb, "JPEG", {}),
        (rgb, "JPEG", {"progressive": True}),
        (rgb.convert("CMYK"), "JPEG", {}),
        (rgb, "JPEG", {"exif": exif.tobytes()}),
        (rgb.convert("P"), "GIF", {}),
        (rgb, "BMP", {}),
        (rgb, "TIFF", {}),
        (rgb.convert("RGBA"), "PNG", {}),
        (rgb.convert("I;16"), "PNG", {}),
        (rgb, "WEBP", {}),
    ]
    seeds = []
    for image, kind, options in variants:
        buffer = io.BytesIO()
        image.save(buffer, format=kind, **options)
        seeds.append(buffer.getvalue())
    return seeds


def _mutate(data, rng):
    data = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        where = int(rng.integers(0, max(1, len(data))))
        action = rng.integers(0, 5)
        if action == 0 and data:
            data[where] ^= 1 << int(rng.integers(0, 8))
        elif action == 1 and data:
            data[where] = int(rng.choice([0, 0xFF, 0x7F, 0x80, int(rng.integers(0, 256))]))
        elif action == 2:
            data[where:where] = rng.integers(
                0, 256, int(rng.integers(1, 16)), dtype=np.uint8
            ).tobytes()
        elif action == 3:
            del data[where : where + int(rng.integers(1, 64))]
        else:
            del data[where:]
    return bytes(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--findings", default="fuzz_findings")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    seeds = _seeds()
    counts = {"loaded": 0, "refused": 0, "crashed": 0}
    findings = {}
    deadline = time.monotonic() + args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.img"
        while time.monotonic() < deadline:
            data = _mutate(seeds[int(rng.integers(0, len(seeds)))], rng)
            path.write_bytes(data)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rgb = load_image(path)
                if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
                    raise AssertionError(f"bad result {rgb.dtype} {rgb.shape}")
                counts["loaded"] += 1
            except UserError:
                counts["refused"] += 1
            except Exception as exc:  # noqa: BLE001 — every other exception is a finding
                counts["crashed"] += 1
                key = f"{type(exc).__name__}: {str(exc)[:80]}"
                if key not in findings:
                    findings[key] = data
    total = sum(counts.values())
    print(
        f"{total} inputs in {args.seconds:.0f}s: {counts['loaded']} loaded, "
        f"{counts['refused']} refused with a UserError, {counts['crashed']} crashed "
        f"({len(findings)} distinct)"
    )
    if findings:
        out = Path(args.findings)
        out.mkdir(parents=True, exist_ok=True)
        for number, (key, data) in enumerate(findings.items()):
            (out / f"crash_{number}.bin").write_bytes(data)
            print(f"  crash_{number}.bin  {key}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
