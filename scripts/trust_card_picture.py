"""The trust card of the embedded EfficientNet-Lite0 on real photos, and a picture of it for the
docs: results/trust/ (trust.html, trust.json, maps/) and results/trust/card.png, a screenshot
taken by Debian's chromium (headless, through Playwright).

    python scripts/trust_card_picture.py [--out results/trust] [--methods a,b,...]
                                         [--budget quick|paper]

The photos are scikit-image's (cat, coffee, astronaut, rocket, motorcycle), each as it is,
mirrored and centrally cropped (16 images in all), written as a labelled folder whose class
subfolders are the model's top class of each image (model-space index as folder name), so Focus
runs. ``photo_folder`` is also what benchmarks/trust.py times.
"""

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from gradcam.errors import UserError, exit_status

METHODS = ("grad_cam", "grad_cam_pp", "gradient", "guided_backprop", "smoothgrad")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def photo_variants(count=16):
    """``count`` RGB uint8 photos: each benchmark photo, mirrored and cropped to 80 %."""
    from gradcam.evaluation.collage import benchmark_photos

    variants = []
    for name, photo in benchmark_photos().items():
        h, w = photo.shape[:2]
        crop = photo[h // 10 : h - h // 10, w // 10 : w - w // 10]
        variants += [(name, photo), (f"{name}_mirrored", photo[:, ::-1]), (f"{name}_crop", crop)]
    extra = [(f"{n}_crop_mirrored", p[:, ::-1]) for n, p in variants if n.endswith("_crop")]
    return (variants + extra)[:count]


def photo_folder(model, out, count=16) -> Path:
    """Write ``photo_variants`` under ``out/<model's top class index>/<name>.png``."""
    out = Path(out)
    photos = photo_variants(count)
    top = model.predict(np.stack([model.prepare(p) for _, p in photos])).argmax(1)
    for (name, photo), label in zip(photos, top):
        (out / str(int(label))).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(photo)).save(out / str(int(label)) / f"{name}.png")
    return out


def screenshot(page_path, png):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        raise UserError("Debian's chromium is needed for the picture: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(Path(page_path).resolve().as_uri())
        page.locator("#card").screenshot(path=str(png))
        browser.close()


def main(argv=None):
    import tempfile

    from gradcam.method_trust import trust
    from gradcam.model import Model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/trust")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--budget", default="quick", choices=("quick", "paper"))
    args = parser.parse_args(argv)
    model = Model()
    with tempfile.TemporaryDirectory() as tmp:
        data = photo_folder(model, tmp)
        card = trust(
            model,
            data,
            args.methods.split(","),
            budget=args.budget,
            out=args.out,
            progress=lambda line: print(line, flush=True),
        )
    print("\n".join(card.lines()))
    screenshot(Path(args.out) / "trust.html", Path(args.out) / "card.png")
    print(f"wrote {args.out}/trust.html, trust.json and card.png")
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
