"""Every method and the contrast through every door: the API (``gradcam.explain``), the CLI
(``explain``, ``compare``, ``batch``), in one process on the session's Lite0."""

import json

import numpy as np
import pytest
from PIL import Image

import gradcam
from gradcam.cli import main
from gradcam.methods import ATTENTION_METHODS, METHODS
from gradcam.score import LOGIT

from conftest import smoke_options

ESPRESSO, CUP = 967, 968
SCORED = [name for name, m in METHODS.items() if m.uses_score]
SCORELESS = [name for name, m in METHODS.items() if not m.uses_score]


def test_list_methods_shows_every_method(capsys):
    assert main(["list", "methods"]) == 0
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()]
    every = {**METHODS, **ATTENTION_METHODS}  # the vision-transformer methods listed after
    assert [name for name, _ in rows] == list(every)
    assert all(kind == every[name].kind for name, kind in rows)


@pytest.mark.parametrize("method", list(METHODS))
def test_api_explains_a_path_with_each_method(lite0, coffee_png, method):
    result = gradcam.explain(lite0, str(coffee_png), "espresso", method, **METHODS[method].smoke)
    assert result.map.shape == (1, 224, 224) and int(result.target[0]) == ESPRESSO
    assert not result.degenerate[0] and (result.lowres is not None) == METHODS[method].lowres
    assert result.contrast is None and result.score == LOGIT


@pytest.mark.parametrize("method", SCORED)
def test_every_method_takes_a_contrast_from_the_cli(cli, coffee_png, tmp_path, method, capsys):
    out = tmp_path / f"{method}.png"
    assert (
        cli(
            [
                "explain",
                str(coffee_png),
                "--method",
                method,
                "--class",
                "espresso",
                "--contrast",
                "cup",
                "--output",
                str(out),
                "--save-npz",
                "--json",
                *smoke_options(method),
            ]
        )
        == 0
    )
    record = json.loads(capsys.readouterr().out)
    assert record["contrast"]["index"] == CUP and record["targets"][0]["index"] == ESPRESSO
    arrays = np.load(out.with_suffix(".npz"))
    assert int(arrays["contrast"]) == CUP and arrays["map"].shape == (224, 224)
    assert not arrays["degenerate"]


def test_contrast_changes_the_map_from_the_cli(cli, coffee_png, tmp_path):
    def lowres(*extra):
        out = tmp_path / f"x{len(extra)}.png"
        assert (
            cli(
                [
                    "explain",
                    str(coffee_png),
                    "--class",
                    "espresso",
                    "--output",
                    str(out),
                    "--save-npz",
                    *extra,
                ]
            )
            == 0
        )
        return np.load(out.with_suffix(".npz"))["lowres"]

    plain, rather = lowres(), lowres("--contrast", "cup")
    cup = lowres("--class", "cup")  # two classes: lowres gains a row axis
    np.testing.assert_allclose(rather, plain - cup[1], rtol=1e-4, atol=1e-4 * np.abs(plain).max())


def test_probability_score_from_the_cli(cli, coffee_png, tmp_path, capsys):
    out = tmp_path / "p.png"
    assert (
        cli(
            [
                "explain",
                str(coffee_png),
                "--method",
                "occlusion",
                "--score",
                "probability",
                "--json",
                "--output",
                str(out),
                "--save-npz",
                *smoke_options("occlusion"),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["score"] == "probability"
    assert str(np.load(out.with_suffix(".npz"))["score"]) == "probability"


@pytest.mark.parametrize(
    "argv, message",
    [
        *[
            (["--method", name, "--contrast", "cup"], f"{name} uses no class score")
            for name in SCORELESS
        ],
        (["--method", "cam", "--score", "probability"], "--score probability does not apply"),
        (["--class", "cup", "--contrast", "968"], "is also the target"),
        (["--contrast", "expresso"], "unknown class 'expresso'"),
        (["--score", "odds"], "invalid choice: 'odds'"),
    ],
)
def test_contrast_mistakes_are_one_line_errors(cli, coffee_png, tmp_path, capsys, argv, message):
    assert cli(["explain", str(coffee_png), "--output", str(tmp_path / "e.png"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_compare_draws_the_contrast(cli, coffee_png, tmp_path, capsys):
    out = tmp_path / "compare.png"
    assert (
        cli(
            [
                "compare",
                str(coffee_png),
                "--methods",
                "grad_cam,layer_cam,rise",
                "--contrast",
                "cup",
                "--output",
                str(out),
                "--option",
                "rise.masks=8",
            ]
        )
        == 0
    )
    assert "espresso vs cup" in capsys.readouterr().out and out.stat().st_size > 0
    assert (
        cli(
            [
                "compare",
                str(coffee_png),
                "--methods",
                "grad_cam",
                "--class",
                "cup",
                "--contrast",
                "cup",
                "--output",
                str(out),
            ]
        )
        == 2
    )
    assert "is also the target" in capsys.readouterr().err


@pytest.mark.parametrize("method", list(METHODS))
def test_batch_mode_runs_each_method_with_a_contrast(cli, coffee_png, tmp_path, lite0, method):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(coffee_png).save(folder / "a.png")
    Image.open(coffee_png).transpose(Image.FLIP_LEFT_RIGHT).save(folder / "b.png")
    out = tmp_path / "out"
    contrast = {"contrast": CUP} if METHODS[method].uses_score else {}
    flags = ["--contrast", "cup"] if contrast else []
    assert (
        cli(
            [
                "batch",
                str(folder),
                "--out",
                str(out),
                "--method",
                method,
                "--class",
                "espresso",
                *flags,
                "--no-progress",
                *smoke_options(method),
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r.get("contrast", {}).get("index") for r in records] == [contrast.get("contrast")] * 2
    for name in ("a", "b"):
        arrays = np.load(out / f"{name}.png.npz")
        alone = gradcam.explain(
            lite0,
            str(folder / f"{name}.png"),
            ESPRESSO,
            method,
            **contrast,
            **METHODS[method].smoke,
        )
        np.testing.assert_allclose(arrays["map"], alone.map[0], atol=1e-5)
