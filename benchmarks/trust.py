"""``gradcam trust --budget quick`` on 16 images for the 8 CAM-family methods on the embedded
EfficientNet-Lite0: wall time of each check, and what ``--budget paper`` would cost.

    python benchmarks/trust.py [--out results/benchmarks/trust.json]

The images are scripts/trust_card_picture.py's 16 photo variants in class subfolders (so Focus
runs). The paper budget is not run (hours on 2 cores); its cost is extrapolated from the quick
run's measured phases by the work each phase does (images x depths x methods for randomisation,
images x maps x removal steps for SRG, mosaics for Focus) and printed as an estimate, with
score_cam's and the other methods' option scaling stated.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.trust_card_picture import photo_folder  # noqa: E402

CAM_FAMILY = (
    "cam",
    "grad_cam",
    "grad_cam_pp",
    "xgrad_cam",
    "layer_cam",
    "hires_cam",
    "eigen_cam",
    "score_cam",
)


def phases(marks, end):
    """Seconds per phase from the progress lines' (time, line) marks."""
    names = []
    for t, line in marks:
        name = line.split(":")[0].split(" ")[0]
        if not names or names[-1][0] != name:
            names.append((name, t))
    bounds = [t for _, t in names[1:]] + [end]
    return {name: bounds[i] - t for i, (name, t) in enumerate(names)}


def paper_estimate(quick, budget_quick, budget_paper, groups, images, channels):
    """Seconds the paper budget would take, from the quick phases (see the module docstring)."""
    n = images
    rand_images_q = min(budget_quick.randomization_images or n, n)
    rand = (
        quick["randomisation"] * (groups * n) / (budget_quick.randomization_depths * rand_images_q)
    )
    faith_q = min(budget_quick.faithfulness_images or n, n)
    faith = (
        quick["faithfulness"]
        * (n * (budget_paper.srg_steps - 1))
        / (faith_q * (budget_quick.srg_steps - 1))
    )
    focus = quick["focus"] * budget_paper.focus_mosaics / budget_quick.focus_mosaics
    # score_cam: every channel of the layer instead of the budget's 32 masks, in explanations
    score_scale = channels / 32
    explain = quick["explaining"] * (1 + score_scale) / 2
    rand *= (1 + score_scale) / 2
    focus *= (1 + score_scale) / 2
    return {
        "explaining": explain,
        "randomisation": rand,
        "faithfulness": faith,
        "focus": focus,
        "total": explain + rand + faith + focus,
    }


def main(argv=None):
    from gradcam.method_trust import trust
    from gradcam.method_trust.protocol import BUDGETS
    from gradcam.method_trust.randomization import layer_group_names
    from gradcam.model import Model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks/trust.json")
    args = parser.parse_args(argv)
    model = Model()
    marks = []
    with tempfile.TemporaryDirectory() as tmp:
        data = photo_folder(model, Path(tmp) / "photos")
        start = time.perf_counter()
        card = trust(
            model,
            data,
            CAM_FAMILY,
            budget="quick",
            out=Path(tmp) / "card",
            progress=lambda line: marks.append((time.perf_counter(), line)),
        )
        total = time.perf_counter() - start
    quick = phases(marks, start + total)
    quick["explaining"] += marks[0][0] - start  # the trained model's predictions
    channels = model.layer_shapes[model.default_layer][-1]
    paper = paper_estimate(
        quick,
        BUDGETS["quick"],
        BUDGETS["paper"],
        len(layer_group_names(model)),
        card.images,
        channels,
    )
    print(
        f"gradcam trust --budget quick, {card.images} images, {len(CAM_FAMILY)} CAM-family "
        f"methods on {model.name}: {total:.1f} s"
    )
    for name, seconds in quick.items():
        print(f"  {name}: {seconds:.1f} s")
    print(
        f"--budget paper (estimate, not run): {paper['total'] / 60:.0f} min "
        + ", ".join(f"{k} {v / 60:.0f} min" for k, v in paper.items() if k != "total")
    )
    print("\n".join(card.lines()))
    record = {
        "command": "python benchmarks/trust.py",
        "images": card.images,
        "methods": list(CAM_FAMILY),
        "quick_seconds": total,
        "quick_phases": quick,
        "paper_estimate_seconds": paper,
        "verdicts": {m: card.verdict(m) for m in CAM_FAMILY},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
