"""Localisation benchmark on 2 x 2 collages of real photos: does the map point at the right tile?

    python scripts/localization_benchmark.py [--fast] [--methods a,b] [--out results/localization]

Photos shipped with scikit-image (cat, espresso, astronaut, rocket, motorcycle) are cropped into
the tiles of 2 x 2 collages: every 4-photo subset, each in a different rotation so photos move
between positions. The target of a tile is the class the model gives that photo alone. For every
tile of every collage and every method: pointing-game hit (the map's maximum lies in the target's
tile, no tolerance; Zhang et al. 2016) and energy in tile (fraction of the map's mass in the
tile; Wang et al. 2020). Chance is 25% for both.
"""

import argparse
import itertools
import sys

import numpy as np

from gradcam.errors import exit_status
from gradcam.evaluation import report

import _common


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", help="comma-separated methods (default: all registered)")
    _common.add_common_arguments(parser, "localization")
    return parser.parse_args(argv)


def collages(photos, fast):
    """(photo names, image, masks) of each 2 x 2 collage at 224 x 224."""
    from gradcam.evaluation.collage import collage

    names = list(photos)
    subsets = list(itertools.combinations(names, 4))[: 1 if fast else None]
    for i, subset in enumerate(subsets):
        order = list(subset[i % 4 :] + subset[: i % 4])
        image, masks = collage([photos[n] for n in order], 2, 2, 224)
        yield order, image, masks


def main(argv=None, model=None):
    from gradcam.errors import UserError
    from gradcam.evaluation.collage import benchmark_photos
    from gradcam.evaluation.pointing import pointing_game
    from gradcam.explanation import explain
    from gradcam.methods import METHODS, get_method

    args = parse_args(argv)
    methods = [get_method(n).name for n in (args.methods.split(",") if args.methods else METHODS)]
    out = _common.output_dir(args.out)
    model = model or _common.load_model("efficientnet_lite0")
    if model.image_size != 224:
        raise UserError("the benchmark collages are 224 x 224")
    photos = benchmark_photos()
    alone_inputs = np.stack([model.prepare(p) for p in photos.values()])
    alone = dict(zip(photos, model.predict(alone_inputs).argmax(1)))
    scores = {m: {"hit": [], "energy": []} for m in methods}
    cases = []
    for order, image, masks in collages(photos, args.fast):
        targets = [int(alone[n]) for n in order]
        copies = np.repeat(image[None], 4, 0)
        for method in methods:
            maps = explain(
                model, copies, targets, method, **_common.method_options(method, args.fast)
            ).map
            result = pointing_game(maps, masks, tolerance=0)
            scores[method]["hit"] += result["hit"].tolist()
            scores[method]["energy"] += result["energy"].tolist()
        cases.append({"tiles": order, "targets": [model.label(t) for t in targets]})
        print(f"collage {'/'.join(order)} done", flush=True)
    table = {
        m: {
            "pointing_accuracy": float(np.mean(s["hit"])),
            "energy_mean": float(np.mean(s["energy"])),
            "energy_std": float(np.std(s["energy"])),
            "tiles": len(s["hit"]),
        }
        for m, s in scores.items()
    }
    header = ["method", "pointing game (tile hit %)", "energy in tile (mean ± std)", "tiles"]
    rows = [
        [
            m,
            f"{100 * t['pointing_accuracy']:.1f}",
            f"{t['energy_mean']:.3f} ± {t['energy_std']:.3f}",
            t["tiles"],
        ]
        for m, t in table.items()
    ]
    rows.append(["(chance)", "25.0", "0.250", "-"])
    markdown = report.markdown_table(header, rows)
    command = _common.command_line("localization_benchmark", argv)
    report.write_text(out / "localization.md", f"`{command}`\n\n{markdown}")
    report.write_json(
        out / "localization.json",
        {
            "command": command,
            "model": model.name,
            "classes_alone": {n: model.label(c) for n, c in alone.items()},
            "collages": cases,
            "method_options": {m: _common.method_options(m, args.fast) for m in methods},
            "table": table,
            "per_tile": scores,
        },
    )
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
