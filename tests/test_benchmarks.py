"""The benchmark suite's smoke run (benchmarks/run.py --quick) and the one-forward path for several
classes of one image. No timing thresholds: the numbers are the script's business."""

import json
import math

import numpy as np
import pytest

from benchmarks.methods import describe
from gradcam.methods import METHODS


def positive(summary):
    return all(math.isfinite(summary[k]) and summary[k] > 0 for k in ("median", "min", "max"))


@pytest.mark.slow  # 45 s: every method timed a few times
def test_quick_benchmark_covers_every_method(lite0, tmp_path):
    from benchmarks.run import run_all

    run_all(lite0, quick=True, out_dir=tmp_path, pair=False, sessions=False, log=lambda m: None)
    result = json.loads((tmp_path / "benchmark.json").read_text())
    assert all(positive(v) for v in result["limits"].values())
    assert sorted(r["method"] for r in result["methods"]) == sorted(METHODS)
    for row in result["methods"]:
        cost = METHODS[row["method"]].passes(METHODS[row["method"]].smoke, lite0.image_size)
        assert positive(row["seconds"]) and row["limit_seconds"] > 0, row["method"]
        assert row["limit"] == describe(cost), row["method"]  # the limit is the declared cost
        # the declared passes are a lower bound of what the method feeds the network
        assert row["session_runs"] >= 1 and row["images_fed"] >= cost.images, row["method"]
    assert result["classes"]["ratio"] > 0
    runs = result["batch_mode"]["runs"]
    assert [r["images"] for r in runs] == [2, 4]
    assert all(r["images_per_second"] > 0 and r["peak_rss_mb"] > 0 for r in runs)
    keras = result["model_files"]
    assert keras["own_passes"]["ratio"] > 0 and keras["default_layer"] == "out_relu"
    if "skipped" not in keras["tf_keras_vis"]:  # tf-keras-vis installed (requirements.txt)
        assert keras["tf_keras_vis"]["map_difference"] < 1e-3  # the same Grad-CAM, both sides
        assert "not connected" in keras["nested"]["tf_keras_vis"]  # where it breaks, we work
    assert keras["nested"]["ours"]["ratio"] > 0
    readme = (tmp_path / "README.md").read_text()
    assert all(f"| {name} |" in readme for name in METHODS)
    throughput = result["throughput"]
    cases = {r["case"]: r for r in throughput["rows"]}
    assert {
        "small, png,npz,jsonl",
        "small, jsonl,npz lowres",
        "12-MP, png,npz,jsonl",
        "raw Grad-CAM",
    } <= set(cases)
    assert all(r["images_per_second"] > 0 and r["images"] > 0 for r in cases.values())
    assert set(throughput["startup"]) == {
        "gradcam --help",
        "gradcam explain (one image)",
        "import tensorflow",
    }
    assert all(positive(v) for v in throughput["startup"].values())
    assert positive(throughput["beam"]["beam"]) and throughput["beam"]["beam_over_batch"] > 0
    for check in (
        "12-MP JPEG img/s / small-photo img/s",
        "--npz-maps lowres / bare batched",
        "Beam (1 worker) / batch mode seconds",
    ):
        assert check in readme


def test_several_classes_of_one_image_match_separate_runs(lite0, coffee_input, monkeypatch):
    """Repeated rows take the fed-activation path; it must equal one full pass per class."""
    classes = [967, 968, 504]
    keys = ("logits", "score", "activations", "layer_gradients")
    fed = []
    real_run = lite0.session.run

    def counting(fetches, feed_dict=None, **kwargs):
        fed.append(len(feed_dict[lite0.input_tensor]) if lite0.input_tensor in feed_dict else 0)
        return real_run(fetches, feed_dict, **kwargs)

    monkeypatch.setattr(lite0.session, "run", counting)
    shared = lite0.fetch(np.repeat(coffee_input[None], 3, 0), classes, keys)
    monkeypatch.undo()
    assert sum(fed) == 1  # the network below the layer ran for one image, not three
    for i, c in enumerate(classes):
        alone = lite0.fetch(coffee_input[None], c, keys)
        for key in keys:
            np.testing.assert_allclose(shared[key][i], alone[key][0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(shared["layer_gradients"][0], shared["layer_gradients"][1])
