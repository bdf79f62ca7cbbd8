"""Write the real photos that ship with scikit-image as PNG files (cat, coffee, astronaut, ...).

python scripts/sample_images.py [OUT_DIR]     # default: samples/
"""

import argparse
from pathlib import Path

import skimage.data
from PIL import Image

PHOTOS = {
    "chelsea": skimage.data.chelsea,
    "coffee": skimage.data.coffee,
    "astronaut": skimage.data.astronaut,
    "rocket": skimage.data.rocket,
    "motorcycle": lambda: skimage.data.stereo_motorcycle()[0],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="samples")
    out = Path(parser.parse_args().out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, load in PHOTOS.items():
        Image.fromarray(load()).save(out / f"{name}.png")
    print(f"wrote {len(PHOTOS)} photos to {out}/")


if __name__ == "__main__":
    main()
