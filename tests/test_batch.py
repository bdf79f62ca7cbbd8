"""Batch mode and its Beam twin: per-image outputs equal a direct explanation, broken files are
reported without stopping, a SIGKILLed run resumes with nothing lost or repeated, and the Beam
pipeline writes the same maps."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTOS, photo

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """11 small photos (crops and flips, some in a subfolder, PNG and JPEG) and one broken file."""
    folder = tmp_path_factory.mktemp("images")
    (folder / "more").mkdir()
    count = 0
    for name in PHOTOS:
        rgb = photo(name)
        h, w = rgb.shape[:2]
        variants = [rgb, rgb[:, ::-1], rgb[h // 8:, w // 8:]][: 3 if count < 9 else 2]
        for i, variant in enumerate(variants):
            small = Image.fromarray(np.ascontiguousarray(variant)).resize((256, 256 * h // w))
            target = folder / "more" if i == 2 else folder
            small.save(target / (f"{name}_{i}.png" if i != 1 else f"{name}_{i}.jpg"), quality=95)
            count += 1
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return folder


def _lines(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def batch_out(lite0, image_dir, tmp_path_factory):
    from gradcam.batch import JobSettings, run_batch

    out = tmp_path_factory.mktemp("batch_out")
    summary = run_batch(lite0, image_dir, out, JobSettings(batch_size=4), progress=False)
    return out, summary


def test_batch_outputs_match_direct_explanations(lite0, image_dir, batch_out):
    from gradcam.explanation import explain
    from gradcam.images import load_image

    out, summary = batch_out
    images = sorted(p for p in image_dir.rglob("*") if p.is_file())
    assert (summary["images"], summary["errors"]) == (len(images) - 1, 1)
    assert summary["failed"][0]["path"].endswith("broken.png")
    records = _lines(out)
    assert sorted(r["path"] for r in records) == sorted(map(str, images))
    for record in records:
        if "error" in record:
            assert "broken.png" in record["error"] and not (out / "broken.png.png").exists()
            continue
        image = lite0.prepare(load_image(record["path"]))
        direct = explain(lite0, image[None], [int(lite0.predict(image[None])[0].argmax())])
        saved = np.load(out / record["npz"])
        assert int(saved["target"]) == record["target"]["index"] == int(direct.target[0])
        assert record["top_k"][0]["index"] == record["target"]["index"]
        np.testing.assert_allclose(saved["map"], direct.map[0], atol=1e-5)
        np.testing.assert_array_equal(saved["input"], image)
        assert Image.open(out / record["png"]).size == (lite0.image_size, lite0.image_size)
        assert record["map"]["max"] == pytest.approx(float(direct.map[0].max()), abs=1e-5)


def test_resume_recognises_the_same_files_under_another_spelling(lite0, image_dir, tmp_path,
                                                                 monkeypatch):
    """Written with the absolute folder path, resumed with a relative one: nothing is redone."""
    import shutil

    from gradcam.batch import JobSettings, run_batch

    folder = tmp_path / "photos"
    shutil.copytree(image_dir / "more", folder)
    out = tmp_path / "out"
    first = run_batch(lite0, str(folder), out, JobSettings(batch_size=4), progress=False)
    monkeypatch.chdir(tmp_path)
    again = run_batch(lite0, "photos", out, JobSettings(batch_size=4), resume=True, progress=False)
    assert first["images"] > 0 and again["images"] == 0
    assert again["skipped_done"] == first["images"] and len(_lines(out)) == first["images"]


def _line_count(results):
    return results.read_bytes().count(b"\n") if results.exists() else 0


def test_sigkill_and_resume_loses_and_repeats_nothing(image_dir, tmp_path):
    """GRADCAM_KILLS rounds (default 3; a soak run sets more) each start the job on a folder with
    4 copies of the test images per round and SIGKILL it at a random moment after 1-3 new lines;
    then a full resume."""
    import shutil

    rounds = int(os.environ.get("GRADCAM_KILLS", "3"))
    folder, out = tmp_path / "in", tmp_path / "out"
    for copy in range(4 * rounds):  # enough images that a kill lands while the job runs
        shutil.copytree(image_dir, folder / f"copy{copy}")
    image_dir = folder
    command = [sys.executable, "-m", "gradcam.cli", "batch", str(image_dir), "--out", str(out),
               "--batch-size", "2", "--no-progress", "--resume"]
    rng = random.Random(0)
    kills = 0
    for _ in range(rounds):
        before = _line_count(out / "results.jsonl")
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        wanted = before + rng.randint(1, 3)
        deadline = time.monotonic() + 120
        while process.poll() is None and _line_count(out / "results.jsonl") < wanted \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills >= rounds - 1, f"only {kills} of {rounds} rounds were killed before finishing"
    print(f"{kills} SIGKILLs, then a full resume")
    finished = subprocess.run(command + ["--json"], cwd=REPO, capture_output=True, text=True,
                              timeout=300)
    assert finished.returncode == 0, finished.stderr
    records = _lines(out)
    images = sorted(str(p) for p in image_dir.rglob("*") if p.is_file())
    assert sorted(r["path"] for r in records) == images  # each exactly once
    for record in records:
        if "error" not in record:
            assert np.load(out / record["npz"])["map"].shape == (224, 224)
            Image.open(out / record["png"]).verify()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers


@pytest.fixture(scope="module")
def beam_dir(tmp_path_factory):
    """A few dozen images for the Beam comparison: 7 variants of each photo (flips, crops, a
    rotation; PNG and JPEG, some in a subfolder) and one broken file."""
    folder = tmp_path_factory.mktemp("beam_images")
    (folder / "sub").mkdir()
    for name in PHOTOS:
        rgb = photo(name)
        h, w = rgb.shape[:2]
        variants = [rgb, rgb[:, ::-1], rgb[::-1], rgb[: h // 2, : w // 2], rgb[h // 2:, w // 2:],
                    rgb[h // 6: -h // 6, w // 6: -w // 6], np.rot90(rgb)]
        for i, variant in enumerate(variants):
            small = Image.fromarray(np.ascontiguousarray(variant))
            small = small.resize((192, 192 * small.height // small.width))
            target = folder / "sub" if i % 3 == 0 else folder
            small.save(target / f"{name}_{i}.{'png' if i % 2 else 'jpg'}", quality=95)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return folder


def test_beam_pipeline_writes_the_same_maps_as_batch(lite0, beam_dir, tmp_path):
    from gradcam.batch import JobSettings, run_batch
    from gradcam.beam_pipeline import run_pipeline
    from gradcam.model_cache import PROCESS_MODELS

    PROCESS_MODELS.put(lite0)  # the Beam worker (this process) reuses the session's model
    out = tmp_path / "batch"
    summary = run_batch(lite0, beam_dir, out, JobSettings(batch_size=4), progress=False)
    assert (summary["images"], summary["errors"]) == (7 * len(PHOTOS), 1)
    assert summary["images"] >= 24
    results = run_pipeline(beam_dir, tmp_path / "beam", JobSettings(batch_size=4))
    beam = {r["path"]: r for r in map(json.loads, results.read_text().splitlines())}
    batch = {r["path"]: r for r in _lines(out)}
    assert sorted(beam) == sorted(batch)
    for path, record in batch.items():
        assert ("error" in record) == ("error" in beam[path])
        if "error" in record:
            continue
        assert beam[path]["target"]["index"] == record["target"]["index"]
        assert beam[path]["target"]["probability"] == pytest.approx(record["target"]["probability"],
                                                                     abs=1e-5)
        ours, theirs = np.load(tmp_path / "beam" / record["npz"]), np.load(out / record["npz"])
        np.testing.assert_allclose(ours["map"], theirs["map"], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(ours["target"], theirs["target"])


def _beam_error(capsys, argv):
    """Run ``gradcam beam`` expecting a one-line user error; returns the line."""
    from gradcam.cli import main

    assert main(["beam", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradcam: error: "), err
    return err


@pytest.mark.parametrize("flags, message", [
    (["--model-file", "/nonexistent.pb"], "model file not found: /nonexistent.pb"),
    (["--input-tensor", "input"], "gradcam beam does not take --input-tensor"),
    (["--threads", "2"], "gradcam beam does not take --threads"),
    (["--checkpoint", "/nonexistent.ckpt"], "checkpoint not found: /nonexistent.ckpt"),
    (["--class", "no such class"], "unknown class 'no such class'"),
    (["--top-k", "0"], "--top-k must be at least 1"),
])
def test_beam_refuses_mistakes_on_the_driver(image_dir, tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    assert message in _beam_error(capsys, [str(image_dir), "--out", str(out), *flags])
    assert not out.exists()  # refused before the pipeline started


def test_failed_beam_run_is_one_line_and_leaves_no_staging_folder(lite0, image_dir, tmp_path,
                                                                 capsys):
    from gradcam.model_cache import PROCESS_MODELS

    PROCESS_MODELS.put(lite0)
    out = tmp_path / "out"
    err = _beam_error(capsys, [str(image_dir), "--out", str(out), "--layer", "no_such_layer"])
    assert "unknown layer 'no_such_layer'" in err  # raised in the worker
    assert not list(out.glob("beam-temp-*")) and not (out / "results.jsonl").exists()


def test_worker_user_error_is_found_in_a_remote_traceback():
    from gradcam.beam_pipeline import _worker_user_error

    text = ("Pipeline failed: Error processing instruction bundle_3. Original traceback is\n"
            "Traceback (most recent call last):\n  File \"gradcam/model.py\", line 141\n"
            "gradcam.errors.UserError: unknown layer 'x' [while running 'ExplainAndWrite']\n\n")
    assert _worker_user_error(RuntimeError(text)) == \
        "unknown layer 'x' [while running 'ExplainAndWrite']"
    assert _worker_user_error(RuntimeError("Traceback...\nValueError: a bug")) is None


def _finishes(function, seconds):
    """Run ``function`` in a daemon thread -> (True, result or exception) or (False, None) when
    it is still running after ``seconds`` (a hang)."""
    import threading

    outcome = []

    def call():
        try:
            outcome.append(function())
        except Exception as exc:  # noqa: BLE001  (handed back to the test)
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    return (True, outcome[0]) if outcome else (False, None)


def test_unexpected_decode_error_is_that_files_error(lite0, tmp_path, monkeypatch):
    import gradcam.batch
    from gradcam.batch import JobSettings, run_batch

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c"):
        Image.fromarray(photo("coffee")).resize((64, 48)).save(folder / f"{name}.png")
    real = gradcam.batch.load_image

    def load_image(path):
        if Path(path).name == "b.png":
            raise RuntimeError("decoder crashed")
        return real(path)

    monkeypatch.setattr(gradcam.batch, "load_image", load_image)
    done, summary = _finishes(lambda: run_batch(lite0, folder, tmp_path / "out",
                                                JobSettings(batch_size=2), progress=False), 120)
    assert done, "batch run hung after a decoder error"
    assert not isinstance(summary, Exception), summary
    assert (summary["images"], summary["errors"]) == (2, 1)
    error = summary["failed"][0]["error"]
    assert "b.png: cannot decode (RuntimeError: decoder crashed)" in error
    records = {Path(r["path"]).name: r for r in _lines(tmp_path / "out")}
    assert "error" in records["b.png"] and not (tmp_path / "out" / "b.png.png").exists()
    assert all((tmp_path / "out" / records[n]["npz"]).exists() for n in ("a.png", "c.png"))


def test_decode_thread_failure_reaches_the_consumer():
    import threading

    from gradcam.batch import _decoded_stream

    class Job:
        def decode(self, path):
            if path == "second":
                raise KeyError("bug in decode itself")
            return path

    stop = threading.Event()
    done, outcome = _finishes(lambda: list(_decoded_stream(Job(), ["first", "second", "third"],
                                                            1, stop)), 20)
    stop.set()
    assert done, "consumer hung after the decode thread died"
    assert isinstance(outcome, KeyError) and "bug in decode itself" in str(outcome)


def test_inputs_that_would_share_an_output_name_are_refused(tmp_path):
    from gradcam.batch import list_inputs
    from gradcam.errors import UserError

    (tmp_path / "a").mkdir()
    for path in (tmp_path / "a" / "b.png", tmp_path / "a__b.png"):
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    with pytest.raises(UserError, match="would both write a__b.png"):
        list_inputs(str(tmp_path))
