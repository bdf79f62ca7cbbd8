"""Run a model-building script of tests/ (``keras_models.py``, ``vit_models.py``) in its own
process, where TensorFlow is eager, so the test process's graph mode is untouched."""

import subprocess
import sys
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent


def build_models(script, out, *names):
    """``python tests/<script> OUT [NAME ...]``; returns OUT and its references.npz as a dict."""
    subprocess.run(
        [sys.executable, str(TESTS / script), str(out), *names],
        check=True,
        cwd=TESTS.parent,
        capture_output=True,
    )
    return Path(out), dict(np.load(Path(out) / "references.npz"))
