"""The installed package is the library, not the checkout: build the wheel, install it WITHOUT
extras into a new virtual environment in an empty folder, point GRADCAM_HOME at an empty folder,
and use it there (the README's three lines, the CLI), far from this repository."""

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import photo

REPO = Path(__file__).resolve().parent.parent
EXTRAS_ONLY = ("gradio", "apache_beam", "playwright", "pytest", "saliency")
# the README's three lines of Python, as written there
THREE_LINES = (REPO / "README.md").read_text().split("```python\n", 1)[1].split("```", 1)[0]


def _run(argv, cwd, env, timeout=900):
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_wheel_without_extras_explains_in_an_empty_folder(tmp_path):
    wheels, venv, home, work = (tmp_path / d for d in ("wheels", "venv", "home", "work"))
    for folder in (home, work):
        folder.mkdir()
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", REPO, "-w", wheels],
        tmp_path,
        None,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("gradcam_slim-*.whl"))
    assert _run([sys.executable, "-m", "venv", venv], tmp_path, None).returncode == 0
    python, gradcam = venv / "bin" / "python", venv / "bin" / "gradcam"
    installed = _run([python, "-m", "pip", "install", "-q", wheel], tmp_path, None, timeout=1800)
    assert installed.returncode == 0, installed.stderr[-2000:]
    env = {
        "GRADCAM_HOME": str(home),
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    Image.fromarray(photo("chelsea")).save(work / "cat.png")

    three = _run([python, "-c", THREE_LINES], work, env)
    assert three.returncode == 0, three.stderr[-2000:]
    assert Image.open(work / "out.png").size == (224, 224)
    assert (home / "efficientnet_lite0" / "model.ckpt.index").is_file()  # converted into the home

    explained = _run([gradcam, "explain", "cat.png", "--json"], work, env)
    assert explained.returncode == 0, explained.stderr[-2000:]
    assert (
        '"label": "tiger cat"' in explained.stdout
        and (work / "results" / "cat_grad_cam.png").is_file()
    )

    for command, extra in (("serve", "app"), ("beam", "beam")):
        argv = [gradcam, command] + (["cat.png", "--out", "beam_out"] if command == "beam" else [])
        refused = _run(argv, work, env)
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert refused.returncode == 2 and len(lines) == 1, refused.stderr
        assert f'pip install "gradcam-slim[{extra}]"' in lines[0]

    probe = (
        f"import importlib.util; print([m for m in {EXTRAS_ONLY!r} if importlib.util.find_spec(m)])"
    )
    assert _run([python, "-c", probe], work, env).stdout.strip() == "[]"
    site = Path(
        _run(
            [python, "-c", "import gradcam, os; print(os.path.dirname(gradcam.__file__))"],
            work,
            env,
        ).stdout.strip()
    )
    assert site.parent.name == "site-packages" and not (site.parent / "checkpoints").exists()
    assert not list(site.rglob("*.ckpt*"))  # nothing written next to the installed package
    assert sorted(p.name for p in work.iterdir()) == ["cat.png", "out.png", "results"]
