"""Every registered method through the CLI (one process, the session's lite0), compare and
maximize."""

import numpy as np
import pytest
from PIL import Image

from gradcam.methods import METHODS

from conftest import smoke_options


@pytest.mark.parametrize("method", sorted(METHODS))
def test_explain_runs_every_method(cli, coffee_png, tmp_path, method):
    out = tmp_path / f"{method}.png"
    options = smoke_options(method)
    assert (
        cli(
            [
                "explain",
                str(coffee_png),
                "--method",
                method,
                "--output",
                str(out),
                "--save-npz",
                "--class",
                "espresso",
                "--batch-size",
                "8",
                *options,
            ]
        )
        == 0
    )
    assert Image.open(out).size[0] > 100
    arrays = np.load(out.with_suffix(".npz"))
    assert arrays["map"].shape == (224, 224) and not arrays["degenerate"]
    assert ("lowres" in arrays) == METHODS[method].lowres


def test_unknown_option_is_one_line_error(cli, coffee_png, tmp_path, capsys):
    assert (
        cli(
            [
                "explain",
                str(coffee_png),
                "--method",
                "gradient",
                "--option",
                "steps=3",
                "--output",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    assert "gradient has no option 'steps'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_compare_draws_one_row_per_image(cli, coffee_png, tmp_path):
    out = tmp_path / "compare.png"
    options = [a for m in METHODS for a in smoke_options(m, scoped=True)]
    assert (
        cli(
            [
                "compare",
                str(coffee_png),
                str(coffee_png),
                "--methods",
                "grad_cam,gradient,occlusion",
                "--output",
                str(out),
                *options,
            ]
        )
        == 0
    )
    width, height = Image.open(out).size
    assert 1.6 < width / height < 2.2  # 2 rows of 4 panels (input + 3 methods)


def test_maximize_writes_an_image(cli, tmp_path, capsys):
    out = tmp_path / "max.png"
    assert cli(["maximize", "--class", "espresso", "--steps", "3", "--output", str(out)]) == 0
    assert Image.open(out).size == (224, 224)
    assert "objective" in capsys.readouterr().out
    assert (
        cli(
            [
                "maximize",
                "--layer",
                "block_10",
                "--channel",
                "7",
                "--unit",
                "3,4",
                "--steps",
                "2",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert "block_10 channel 7 at (3, 4)" in capsys.readouterr().out
    assert cli(["maximize", "--layer", "block_10", "--unit", "3", "--output", str(out)]) == 2
    assert "expected two whole numbers" in capsys.readouterr().err


def test_seed_makes_randomised_methods_repeat_exactly(cli, coffee_png, tmp_path):
    def smoothgrad_map(seed, name):
        out = tmp_path / f"{name}.png"
        assert (
            cli(
                [
                    "explain",
                    str(coffee_png),
                    "--method",
                    "smoothgrad",
                    "--option",
                    "samples=2",
                    "--seed",
                    str(seed),
                    "--output",
                    str(out),
                    "--save-npz",
                ]
            )
            == 0
        )
        return np.load(out.with_suffix(".npz"))["map"]

    first, again, other = smoothgrad_map(3, "a"), smoothgrad_map(3, "b"), smoothgrad_map(4, "c")
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # a method without randomness takes --seed too (one flag for every method)
    assert (
        cli(
            [
                "explain",
                str(coffee_png),
                "--method",
                "gradient",
                "--seed",
                "3",
                "--output",
                str(tmp_path / "g.png"),
            ]
        )
        == 0
    )
