"""Regenerate results/diff/: ``gradcam diff`` of the planted-shortcut model against the same model
without the tag's weight (a version "trained without the shortcut"), and a screenshot of the
report (the picture docs/diff.md shows).

    python scripts/diff_screenshot.py [--work DIR] [--out results/diff]

Runs scripts/make_planted_shortcut.py --untagged-model, then ``gradcam diff`` with a gate (as
commands, as a user would: the gate trips, exit status 1), then saves OUT/report.png (the top of
the page) and OUT/diff.json.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from audit_screenshot import screenshot

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", help="working folder (default: a temporary one)")
    parser.add_argument("--out", default=str(ROOT / "results" / "diff"))
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="gradcam-diff-shot-"))
    planted, report = work / "planted", work / "planted_diff"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "make_planted_shortcut.py"),
            str(planted),
            "--untagged-model",
        ],
        check=True,
    )
    command = [sys.executable, "-m", "gradcam.cli", "diff", str(planted / "data")]
    command += ["--out", str(report), "--model-file", str(planted / "model.keras")]
    command += ["--against", str(planted / "model_no_tag.keras")]
    command += ["--labels", str(planted / "labels.txt"), "--against-labels"]
    command += [str(planted / "labels.txt"), "--fail-if", "changed_share>0.05"]
    status = subprocess.run(command).returncode
    if status != 1:
        raise SystemExit(f"expected the gate to trip (exit 1), got {status}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    screenshot(report / "report.html", out / "report.png", height=1600)
    shutil.copyfile(report / "diff.json", out / "diff.json")
    print(f"wrote {out / 'report.png'} and {out / 'diff.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
