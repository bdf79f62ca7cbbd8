"""Regenerate results/audit/: the audit of the planted-shortcut data set and a screenshot of its
report (the picture docs/audit.md shows).

    python scripts/audit_screenshot.py [--work DIR] [--out results/audit]

Runs scripts/make_planted_shortcut.py, then ``gradcam audit`` on it (both as commands, as a user
would), then opens the report in Debian's headless chromium (Playwright) and saves
OUT/report.png (the top of the page: the suspicious table and the tagged class) and
OUT/audit.json (the machine-readable twin, for reference).
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def screenshot(report, picture, width=1280, height=2000):
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("Debian's chromium is not installed: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(Path(report).resolve().as_uri())
            page.wait_for_load_state("load")
            page.screenshot(path=str(picture), full_page=False)
        finally:
            browser.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", help="working folder (default: a temporary one)")
    parser.add_argument("--out", default=str(ROOT / "results" / "audit"))
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="gradcam-audit-shot-"))
    planted, audit = work / "planted", work / "planted_audit"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_planted_shortcut.py"), str(planted)],
        check=True,
    )
    command = [sys.executable, "-m", "gradcam.cli", "audit", str(planted / "data")]
    command += ["--out", str(audit), "--model-file", str(planted / "model.keras")]
    command += ["--labels", str(planted / "labels.txt"), "--no-progress"]
    subprocess.run(command, check=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    screenshot(audit / "report.html", out / "report.png")
    shutil.copyfile(audit / "audit.json", out / "audit.json")
    print(f"wrote {out / 'report.png'} and {out / 'audit.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
