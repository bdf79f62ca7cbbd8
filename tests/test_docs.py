"""README.md is a front page over docs/: its links (and those of the docs pages) resolve to files
and headings that exist, every docs page is linked from it, every `gradcam ...` line of a bash
block in README.md and docs/*.md parses with the real command-line parser (a flag renamed in the
code but not in the docs fails here), and the README's three lines of Python run as written."""

import re
import shlex
from pathlib import Path

import pytest
from PIL import Image

import gradcam
from gradcam.cli import build_parser
from gradcam.commands.common import load_user_modules

from conftest import photo

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def code_blocks(text, language):
    """The bodies of the fenced code blocks of ``language``."""
    return [
        block.split("\n", 1)[1]
        for block in text.split("```")[1::2]
        if block.split("\n", 1)[0].strip() == language
    ]


def command_lines(text):
    """Every `gradcam ...` command of the bash blocks, continuation lines joined."""
    return [
        line.strip()
        for block in code_blocks(text, "bash")
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip().startswith("gradcam ")
    ]


def slug(heading):
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page):
    return {
        slug(line.lstrip("#")) for line in page.read_text().splitlines() if line.startswith("#")
    }


def links(page):
    """(target path or None for the page itself, anchor or None) of every relative link."""
    text = " ".join(page.read_text().split())  # a link text may wrap over lines
    found = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        found.append(((page.parent / path).resolve() if path else page, anchor or None))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve_to_files_and_headings(page):
    for target, anchor in links(page):
        assert target.exists(), f"{page.name}: {target} does not exist"
        if anchor is not None:
            assert anchor in anchors(target), f"{page.name}: no heading #{anchor} in {target.name}"


def test_the_readme_is_a_front_page_linking_every_docs_page():
    linked = {target for target, _ in links(README)}
    assert set(PAGES[1:]) <= linked, "a docs page the README does not link"
    assert len(README.read_text().splitlines()) < 80  # the long sections live in docs/
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", README.read_text())
    assert pictures and all((ROOT / p).is_file() for p in pictures)
    # the two commands for a newcomer, exactly as run.sh takes them
    assert "./run.sh demo" in README.read_text() and "./run.sh test" in README.read_text()
    run_sh = (ROOT / "run.sh").read_text()
    assert "\n  demo)\n" in run_sh and "\n  test)\n" in run_sh


DOCUMENTED = [(page, line) for page in PAGES for line in command_lines(page.read_text())]


def test_the_docs_hold_the_command_lines():
    pages = {page.name for page, _ in DOCUMENTED}
    assert len(DOCUMENTED) >= 35 and {"batch-and-beam.md", "methods.md", "networks.md"} <= pages


@pytest.mark.parametrize(
    "page, line", DOCUMENTED, ids=[f"{p.name}:{line[:60]}" for p, line in DOCUMENTED]
)
def test_documented_command_parses(page, line, monkeypatch):
    monkeypatch.chdir(ROOT)  # --register-module examples/my_net.py is relative to the checkout
    argv = load_user_modules(shlex.split(line, comments=True)[1:])
    args, extra = build_parser().parse_known_args(argv)
    if extra:  # only `gradcam beam` passes flags on, to Beam's PipelineOptions: are they Beam's?
        assert getattr(args, "pass_unknown_args", False), f"unknown flags {extra} in: {line}"
        import apache_beam.runners.dask.dask_runner  # noqa: F401  (registers Dask's options)
        from apache_beam.options.pipeline_options import PipelineOptions

        every = PipelineOptions(extra).get_all_options(retain_unknown_options=True)
        known = PipelineOptions(extra).get_all_options()
        assert set(every) <= set(known), f"not a Beam option: {set(every) - set(known)} in {line}"


def test_readme_three_lines_run_as_written(lite0, tmp_path, monkeypatch):
    """The README's Python block, run in a folder holding cat.png; ``gradcam.Model()`` answers
    with the session's (identical) embedded model instead of building a second one."""
    (block,) = code_blocks(README.read_text(), "python")
    Image.fromarray(photo("chelsea")).save(tmp_path / "cat.png")
    monkeypatch.chdir(tmp_path)
    built = []
    monkeypatch.setattr(gradcam, "Model", lambda *args, **kwargs: built.append(args) or lite0)
    exec(compile(block, "README.md", "exec"), {})
    assert built == [()]  # the default model
    expected = gradcam.explain(lite0, "cat.png", "tiger cat")
    assert expected.top_k(1)[0]["label"] == "tiger cat"
    expected.save(tmp_path / "expected.png")
    assert (tmp_path / "out.png").read_bytes() == (tmp_path / "expected.png").read_bytes()
