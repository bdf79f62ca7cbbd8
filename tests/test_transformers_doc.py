"""docs/transformers.md runs as written: its Python block (a keras-hub ViT and a plain-Keras ViT,
random weights) in its own process, then each `gradcam` command through the CLI's main; the
`list layers` line it shows is what the command prints."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gradcam.cli import main

from conftest import photo

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "transformers.md"


def _blocks(text, language):
    return [
        block.split("\n", 1)[1]
        for block in text.split("```")[1::2]
        if block.split("\n", 1)[0].strip() == language
    ]


@pytest.mark.slow
def test_transformers_doc_runs_as_written(tmp_path, monkeypatch, capsys):
    pytest.importorskip("keras_hub", reason="keras-hub is not installed (requirements-nodeps.txt)")
    text = DOC.read_text()
    (tmp_path / "make_models.py").write_text(_blocks(text, "python")[0])
    Image.fromarray(photo("chelsea")).save(tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    outputs = []
    for line in _blocks(text, "bash")[0].splitlines():
        if line.startswith("gradcam "):
            assert main(shlex.split(line)[1:]) == 0, line
            outputs.append(capsys.readouterr())
        else:
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
            subprocess.run(line, shell=True, check=True, cwd=tmp_path, env=env, capture_output=True)
    shown = _blocks(text, "")[0].strip().split()
    printed = [line.split() for line in outputs[0].out.splitlines()]
    assert shown in printed, outputs[0].out
    assert "default: the head reads the class token" in outputs[1].err
    for name in ("hub_grad_cam", "hub_rollout", "plain_block_1", "plain_generic"):
        assert (tmp_path / f"{name}.png").exists()
    assert np.asarray(Image.open(tmp_path / "plain_block_1.png")).ndim == 3
    (wide,) = [b for b in _blocks(text, "bash") if "--image-size" in b]  # "Non-square inputs"
    for line in wide.strip().splitlines():
        assert main(shlex.split(line)[1:]) == 0, line
    assert np.asarray(Image.open(tmp_path / "wide.png")).ndim == 3
