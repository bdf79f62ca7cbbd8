"""Every case of the generated bad-input corpus (tests/bad_inputs.py), through the CLI and the API.

An error is exactly one ``gradcam: error:`` line on stderr (fd level, so TF's C++ logging would be
caught too), exit status 2, no traceback and no file written; a handled input gives status 0, the
PNG and NPZ and nothing else, its map flagged and all zero exactly when the case says so. A few
cases also run as real processes.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gradcam import cli

from bad_inputs import CASES, case_named, expect_user_error, output_argv, reusing_model

IS_ROOT = os.geteuid() == 0
IN_PROCESS = [c for c in CASES if not (c.unprivileged and IS_ROOT)]  # as root: see test_child
API_CASES = [c for c in IN_PROCESS if not c.cli_only]
CHILD_CASES = ["checkpoint with a garbage .index"] + [c.name for c in CASES if c.unprivileged]
TESTS_DIR = Path(__file__).resolve().parent


def test_corpus_size():
    assert len(CASES) >= 25
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def checkpoint(lite0):
    from gradcam.checkpoints import find_checkpoint
    from nets.nets_factory import NETWORKS

    return find_checkpoint(None, NETWORKS["efficientnet_lite0"])


@pytest.fixture
def reuse_lite0(lite0, monkeypatch):
    import gradcam.model

    monkeypatch.setattr(gradcam.model, "Model", reusing_model(lite0, gradcam.model.Model))


def _listing(directory):
    return sorted(str(p.relative_to(directory)) for p in Path(directory).rglob("*"))


def _lines(text):
    return [line for line in text.splitlines() if line.strip()]


def _check_error(status, stderr, case, written):
    lines = _lines(stderr)
    assert status == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("gradcam: error: "), stderr
    assert case.says in lines[0]
    assert "Traceback" not in stderr
    assert written == [], f"files left after a failure: {written}"


@pytest.mark.parametrize("case", IN_PROCESS, ids=[c.name for c in IN_PROCESS])
def test_cli(case, tmp_path, checkpoint, reuse_lite0, capfd, monkeypatch):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    built = case.build(inputs, checkpoint)
    for key, value in (built.env or {}).items():
        monkeypatch.setenv(key, value)
    before_inputs = _listing(inputs)
    monkeypatch.chdir(out)  # a relative output would land here and be seen
    capfd.readouterr()
    status = cli.main(output_argv(built.argv, out))
    stdout, stderr = capfd.readouterr()
    assert _listing(inputs) == before_inputs
    if case.expect == "error":
        _check_error(status, stderr, case, _listing(out))
        return
    assert status == 0, stderr
    warnings = _lines(stderr)
    assert all(line.startswith("gradcam: warning: ") for line in warnings), stderr
    assert len(warnings) == (1 if case.says else 0) and all(case.says in w for w in warnings)
    record = json.loads(stdout)
    stem = Path(built.argv[0]).stem
    assert _listing(out) == [f"{stem}_grad_cam.npz", f"{stem}_grad_cam.png"]
    arrays = np.load(out / f"{stem}_grad_cam.npz")
    assert (
        np.all(np.isfinite(arrays["map"])) and 0 <= arrays["map"].min() <= arrays["map"].max() <= 1
    )
    assert (
        record["targets"][0]["all_zero_map"]
        == bool(arrays["degenerate"])
        == (arrays["map"].max() == 0)
        == case.degenerate
    )


@pytest.mark.parametrize("case", API_CASES, ids=[c.name for c in API_CASES])
def test_api(case, tmp_path, checkpoint, lite0, monkeypatch, recwarn):
    built = case.build(tmp_path, checkpoint)
    for key, value in (built.env or {}).items():
        monkeypatch.setenv(key, value)
    before = _listing(tmp_path)
    if case.expect == "error":
        expect_user_error(lambda: built.api(lite0), case.api_substring)
        assert _listing(tmp_path) == before
        return
    built.check(built.api(lite0))
    messages = [str(w.message) for w in recwarn if case.says and case.says in str(w.message)]
    assert len(messages) == (1 if case.says else 0)


@pytest.mark.parametrize("name", CHILD_CASES)
def test_child(name, checkpoint):
    """A real ``python`` process: the terminal sees one error line and no traceback. Cases that
    only fail without root privileges run as 'nobody' when we are root (see ROOT_NOTE)."""
    case = case_named(name)
    as_nobody = case.unprivileged and IS_ROOT
    base = tempfile.mkdtemp(prefix="gradcam-bad-input-")
    try:
        os.chmod(base, 0o755)
        env = dict(os.environ, PYTHONPATH=str(TESTS_DIR), MPLCONFIGDIR=base)
        code = "import sys, bad_inputs; bad_inputs.run_in_child(*sys.argv[1:])"
        done = subprocess.run(
            [sys.executable, "-c", code, name, base, checkpoint, "yes" if as_nobody else ""],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=base,
        )
        assert done.stdout.strip(), done.stderr
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        assert done.returncode == 0, done.stderr  # the child itself finished its checks
        _check_error(summary["status"], done.stderr, case, summary["written"])
        if case.cli_only:
            assert summary["api"] is None
        else:
            assert case.api_substring in summary["api"]
    finally:
        subprocess.run(["rm", "-rf", base], check=True)
