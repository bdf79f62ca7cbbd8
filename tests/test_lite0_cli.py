"""The embedded EfficientNet-Lite0 end to end: predictions on real photos, class override, a graph
that stops growing, and the ``gradcam explain`` command (in-process and as the console script)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gradcam.explanation import explain

from conftest import photo

ESPRESSO, CUP, TABBY = 967, 968, 281
CATS = {281, 282, 285}


def top(model, image, k):
    return list(np.argsort(-model.predict(image[None])[0])[:k])


def test_predicts_the_cat_and_the_espresso(lite0, cat_input, coffee_input):
    assert CATS & set(top(lite0, cat_input, 3))
    assert ESPRESSO in top(lite0, coffee_input, 3)


def correlation(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize(
    "image,classes,limit",
    [
        ("coffee", ("espresso", "cup"), 0.99),
        ("chelsea", ("tabby", "espresso"), 0.9),  # a far class looks somewhere else
    ],
)
def test_class_override_moves_the_map(lite0, image, classes, limit):
    x = lite0.prepare(photo(image))
    targets = [lite0.class_index(c) for c in classes]
    result = explain(lite0, np.stack([x, x]), targets)
    assert not result.degenerate.any()
    assert all(m.max() == pytest.approx(1.0) and m.std() > 0.05 for m in result.map)
    assert correlation(*result.map) < limit


def test_graph_stops_growing_after_first_call(lite0, coffee_input, cat_input):
    explain(lite0, coffee_input[None], ESPRESSO)
    explain(lite0, cat_input[None], TABBY, layer="block_15")  # a new layer builds its gradient once
    ops = lite0.op_count
    for image, target in ((coffee_input, CUP), (cat_input, ESPRESSO), (coffee_input, TABBY)):
        explain(lite0, image[None], target)
        explain(lite0, image[None], target, layer="block_15")
        lite0.predict(image[None])
    assert lite0.op_count == ops


@pytest.fixture
def coffee_png(tmp_path):
    path = tmp_path / "coffee.png"
    Image.fromarray(photo("coffee")).save(path)
    return path


def test_cli_explain_two_classes(cli, coffee_png, tmp_path, capsys):
    png = tmp_path / "out" / "x.png"
    png.parent.mkdir()
    status = cli(
        [
            "explain",
            "--top-k",
            "5",
            "--class",
            "espresso",
            "--class",
            "cup",
            str(coffee_png),
            "--output",
            str(png),
            "--save-npz",
            "--json",
        ]
    )
    assert status == 0
    record = json.loads(capsys.readouterr().out)
    assert [row["index"] for row in record["top_k"]][:1] == [ESPRESSO] and len(record["top_k"]) == 5
    assert record["top_k"][0]["label"] == "espresso"
    probabilities = [row["probability"] for row in record["top_k"]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-6
    assert [t["index"] for t in record["targets"]] == [ESPRESSO, CUP]

    with Image.open(png) as figure:
        assert figure.format == "PNG" and figure.width > 2 * figure.height  # input + two panels
    arrays = np.load(record["npz"])
    assert Path(record["npz"]) == png.with_suffix(".npz")
    assert arrays["logits"].shape == (1000,) and int(arrays["logits"].argmax()) == ESPRESSO
    assert arrays["target"].tolist() == [ESPRESSO, CUP]
    assert arrays["map"].shape == (2, 224, 224) and arrays["map"].dtype == np.float32
    assert arrays["map"].min() >= 0 and arrays["map"].max() == pytest.approx(1.0)
    assert arrays["lowres"].shape == (2, 7, 7)
    assert arrays["input"].shape == (224, 224, 3) and arrays["input"].dtype == np.uint8
    assert sorted(p.name for p in png.parent.iterdir()) == ["x.npz", "x.png"]  # no temp files left


def test_cli_bad_class_is_one_line_exit_2(cli, coffee_png, tmp_path, capsys):
    png = tmp_path / "x.png"
    status = cli(["explain", "--class", "espreso", str(coffee_png), "--output", str(png)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("gradcam: error: unknown class 'espreso'") and "espresso" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not png.exists()


def test_console_script_end_to_end(lite0, coffee_png, tmp_path):
    """The installed ``gradcam`` entry point, in a fresh process (builds its own model)."""
    script = Path(sys.executable).with_name("gradcam")
    assert script.exists(), "the package is not installed (pip install -e .)"
    png = tmp_path / "y.png"
    done = subprocess.run(
        [
            str(script),
            "explain",
            str(coffee_png),
            "--top-k",
            "3",
            "--json",
            "--threads",
            "1",
            "--output",
            str(png),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["top_k"][0]["index"] == ESPRESSO and record["targets"][0]["index"] == ESPRESSO
    assert png.is_file()
