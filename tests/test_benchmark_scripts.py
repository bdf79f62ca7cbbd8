"""Each benchmark script of the issues' performance rows runs, small, as its docstring says, and
prints its rows (no timing thresholds: the numbers are the scripts' business; this only keeps
them from rotting while the library changes under them)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

CASES = {
    "transformers": (["--quick"], ["grad_cam", "attention_rollout", "target <= 1.2x"]),
    "diff": (["--images", "120", "--repeats", "1"], ["120 images"]),
    "audit": (["--images", "300", "--photos", "16"], ["images/s", "300 maps", "forward passes"]),
    "beam": (["--photos", "16", "--tiny", "300"], ["images/s", "tiny-300", "2 workers / 1 worker"]),
}


def run(name, args):
    ran = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    return ran.stdout


@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_script_runs_and_prints_its_rows(name):
    args, expected = CASES[name]
    out = run(name, args)
    for text in expected:
        assert text in out, out[-2000:]


def test_trust_benchmark_writes_its_json(tmp_path):
    out = tmp_path / "trust.json"
    printed = run("trust", ["--out", str(out)])
    record = json.loads(out.read_text())
    assert record and "quick" in printed
