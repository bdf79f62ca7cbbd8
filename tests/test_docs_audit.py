"""docs/audit.md's commands, run as written (in a scratch folder with the repository's scripts/),
and what they must find: the planted tag's cluster flagged, by ``gradcam audit`` itself and from
``gradcam beam``'s maps, and the Python snippet printing it."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "audit.md"


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


def flagged(audit_json):
    saved = json.loads(Path(audit_json).read_text())
    return [
        (cls["class"], sorted(cluster["members"]))
        for cls in saved["classes"]
        for cluster in cls["clusters"]
        if cluster["suspicious"]
    ]


@pytest.mark.slow
def test_the_documented_commands(tmp_path):
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env["PYTHONPATH"] = str(ROOT)
    commands = [line for block in blocks("sh") for line in block.splitlines() if line.strip()]
    assert len(commands) == 4
    for command in commands:
        run = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, f"{command}\n{run.stderr[-2000:]}"
    tagged = sorted((tmp_path / "planted" / "tagged.txt").read_text().split())
    found = flagged(tmp_path / "planted_audit" / "audit.json")
    assert len(found) == 1 and found[0][0] == "red"
    assert len(set(found[0][1]) & set(tagged)) >= 0.8 * len(tagged)
    assert flagged(tmp_path / "planted_audit_beam" / "audit.json") == found
    (snippet,) = blocks("python")
    run = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    first = run.stdout.splitlines()[0].split()
    assert first[0] == "red" and int(first[2]) == len(found[0][1])
