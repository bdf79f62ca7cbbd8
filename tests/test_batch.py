"""Batch mode and its Beam twin: per-image outputs equal a direct explanation (of the photo decoded
at the size the network needs, or of every pixel with exact_decode), only the chosen outputs are
written, broken files are reported without stopping, a SIGKILLed run resumes with nothing lost or
repeated, and the Beam pipeline writes the same maps."""

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
    """11 small photos (crops and flips, some in a subfolder, PNG and JPEG), two large JPEGs
    (decoded at 1/2 and 1/4 scale: their shorter sides are 2 and 4 times Lite0's 512-pixel need;
    one EXIF-rotated) and one broken file."""
    folder = tmp_path_factory.mktemp("images")
    (folder / "more").mkdir()
    count = 0
    for name in PHOTOS:
        rgb = photo(name)
        h, w = rgb.shape[:2]
        variants = [rgb, rgb[:, ::-1], rgb[h // 8 :, w // 8 :]][: 3 if count < 9 else 2]
        for i, variant in enumerate(variants):
            small = Image.fromarray(np.ascontiguousarray(variant)).resize((256, 256 * h // w))
            target = folder / "more" if i == 2 else folder
            small.save(target / (f"{name}_{i}.png" if i != 1 else f"{name}_{i}.jpg"), quality=95)
            count += 1
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the camera was turned
    for name, size, extra in (
        ("large_half", (1400, 1050), {}),
        ("more/large_quarter", (2100, 4200), {"exif": exif.tobytes()}),
    ):
        large = Image.fromarray(photo("astronaut")).resize(size, Image.BICUBIC)
        large.save(folder / f"{name}.jpg", quality=90, **extra)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return folder


def network_input(model, path, exact=False):
    """What batch mode feeds the network for ``path``: the photo decoded at the model's
    ``decode_size`` (crop placed in full-photo coordinates), or every pixel when ``exact``."""
    from gradcam.images import load_image, load_scaled

    photo = load_image(path) if exact else load_scaled(path, model.decode_size())
    return model.prepare(photo)


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
    from gradcam.images import load_scaled

    out, summary = batch_out
    factors = {
        p.stem: load_scaled(p, lite0.decode_size()).factor for p in image_dir.rglob("large_*.jpg")
    }
    assert factors == {"large_half": 2, "large_quarter": 4}  # the reduced path is exercised
    images = sorted(p for p in image_dir.rglob("*") if p.is_file())
    assert (summary["images"], summary["errors"]) == (len(images) - 1, 1)
    assert summary["failed"][0]["path"].endswith("broken.png")
    records = _lines(out)
    assert sorted(r["path"] for r in records) == sorted(map(str, images))
    for record in records:
        if "error" in record:
            assert "broken.png" in record["error"] and not (out / "broken.png.png").exists()
            continue
        image = network_input(lite0, record["path"])
        direct = explain(lite0, image[None], [int(lite0.predict(image[None])[0].argmax())])
        saved = np.load(out / record["npz"])
        assert int(saved["target"]) == record["target"]["index"] == int(direct.target[0])
        assert record["top_k"][0]["index"] == record["target"]["index"]
        np.testing.assert_allclose(saved["map"], direct.map[0], atol=1e-5)
        np.testing.assert_array_equal(saved["input"], image)
        assert Image.open(out / record["png"]).size == (lite0.image_size, lite0.image_size)
        assert record["map"]["max"] == pytest.approx(float(direct.map[0].max()), abs=1e-5)


def test_resume_recognises_the_same_files_under_another_spelling(
    lite0, image_dir, tmp_path, monkeypatch
):
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


@pytest.mark.parametrize(
    "outputs", [["--outputs", "png,npz,jsonl"], ["--outputs", "npz,jsonl", "--npz-maps", "lowres"]]
)
def test_sigkill_and_resume_loses_and_repeats_nothing(image_dir, tmp_path, outputs):
    """GRADCAM_KILLS rounds (default 3; a soak run sets more) each start the job on a folder with
    4 copies of the test images per round and SIGKILL it at a random moment after 1-3 new lines;
    then a full resume. The folder holds large JPEGs (decoded reduced) beside small photos."""
    import shutil

    rounds = int(os.environ.get("GRADCAM_KILLS", "3"))
    folder, out = tmp_path / "in", tmp_path / "out"
    for copy in range(4 * rounds):  # enough images that a kill lands while the job runs
        shutil.copytree(image_dir, folder / f"copy{copy}")
    image_dir = folder
    command = [
        sys.executable,
        "-m",
        "gradcam.cli",
        "batch",
        str(image_dir),
        "--out",
        str(out),
        "--batch-size",
        "2",
        "--no-progress",
        "--resume",
        *outputs,
    ]
    rng = random.Random(0)
    kills = 0
    for _ in range(rounds):
        before = _line_count(out / "results.jsonl")
        process = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wanted = before + rng.randint(1, 3)
        deadline = time.monotonic() + 120
        while (
            process.poll() is None
            and _line_count(out / "results.jsonl") < wanted
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills >= rounds - 1, f"only {kills} of {rounds} rounds were killed before finishing"
    print(f"{kills} SIGKILLs, then a full resume")
    finished = subprocess.run(
        command + ["--json"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr
    records = _lines(out)
    images = sorted(str(p) for p in image_dir.rglob("*") if p.is_file())
    assert sorted(r["path"] for r in records) == images  # each exactly once
    lowres = "lowres" in outputs
    for record in records:
        if "error" not in record:
            saved = np.load(out / record["npz"])
            assert ("map" in saved) != lowres
            assert saved["lowres" if lowres else "map"].shape == ((7, 7) if lowres else (224, 224))
            assert ("png" in record) != lowres
            if not lowres:
                Image.open(out / record["png"]).verify()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers
    assert not lowres or not list(out.glob("*.png"))


CHOICES = [
    ("png,npz,jsonl", "full"),
    ("npz,jsonl", "lowres"),
    ("png,jsonl", "full"),
    ("jsonl", "full"),
    ("png,npz", "full"),
    ("npz", "lowres"),
]


@pytest.fixture(scope="module")
def more_out(lite0, image_dir, tmp_path_factory):
    """The default outputs of image_dir/more (the reference of the output choices)."""
    from gradcam.batch import JobSettings, run_batch

    out = tmp_path_factory.mktemp("more_out")
    run_batch(lite0, image_dir / "more", out, JobSettings(batch_size=4), progress=False)
    return out


@pytest.mark.parametrize("outputs, npz_maps", CHOICES)
def test_only_the_chosen_outputs_are_written(
    lite0, image_dir, more_out, tmp_path, outputs, npz_maps
):
    """Each choice writes exactly its files, equal to those of the default run (PNG byte for
    byte, NPZ array for array; lowres NPZs lack the S x S map, which the lowres map gives back
    through the display step), and the same JSON lines."""
    from gradcam.batch import JobSettings, output_name, run_batch
    from gradcam.postprocess import cam_map

    full_out = more_out
    chosen = outputs.split(",")
    settings = JobSettings(batch_size=4, outputs=tuple(chosen), npz_maps=npz_maps)
    out = tmp_path / "out"
    summary = run_batch(lite0, image_dir / "more", out, settings, progress=False)
    inputs = sorted(p for p in (image_dir / "more").iterdir())
    names = [output_name(p, image_dir / "more") for p in inputs]
    assert summary["images"] == len(inputs) and summary["outputs"] == outputs
    expected = {f"{n}.{kind}" for n in names for kind in ("png", "npz") if kind in chosen}
    expected |= {"results.jsonl"} if "jsonl" in chosen else set()
    assert {p.name for p in out.iterdir()} == expected
    reference = {Path(r["path"]).name: r for r in _lines(full_out)}
    for name in names:
        if "png" in chosen:
            assert (out / f"{name}.png").read_bytes() == (full_out / f"{name}.png").read_bytes()
        if "npz" in chosen:
            ours, theirs = np.load(out / f"{name}.npz"), np.load(full_out / f"{name}.npz")
            keys = set(theirs.files) - ({"map"} if npz_maps == "lowres" else set())
            assert set(ours.files) == keys
            for key in keys:
                np.testing.assert_array_equal(ours[key], theirs[key])
            if npz_maps == "lowres":
                np.testing.assert_allclose(
                    cam_map(ours["lowres"][None], 224)[0], theirs["map"], atol=1e-6
                )
    if "jsonl" in chosen:
        for record in _lines(out):
            other = reference[Path(record["path"]).name]
            assert {k for k in record if k != "seconds"} == {
                k for k in other if k not in ("seconds", "png", "npz")
            } | {k for k in ("png", "npz") if k in chosen}
            for key in ("top_k", "target", "map", "degenerate"):
                assert record[key] == other[key]


def _cli_error(capsys, argv, load_model=None):
    """Run the CLI expecting a one-line user error (exit 2); returns the line."""
    from gradcam.cli import main

    assert main(argv, load_model=load_model) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradcam: error: "), err
    return err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--resume", "--outputs", "png,npz"], "--resume needs jsonl in --outputs"),
        (["--outputs", "png,gif"], "--outputs: gif is not an output; choose from png,npz,jsonl"),
        (["--outputs", ","], "--outputs: nothing is not an output"),
        (
            ["--npz-maps", "lowres", "--method", "gradient"],
            "--npz-maps lowres: gradient has no feature-resolution map",
        ),
        (["--npz-maps", "lowres", "--outputs", "png,jsonl"], "--npz-maps lowres needs npz"),
        (["--io-threads", "0"], "--io-threads must be at least 1"),
    ],
)
def test_batch_refuses_output_mistakes_before_loading_the_model(
    image_dir, tmp_path, capsys, flags, message
):
    out = tmp_path / "out"
    argv = ["batch", str(image_dir), "--out", str(out), *flags]
    assert message in _cli_error(capsys, argv, lambda args: pytest.fail("loaded the model"))
    assert not out.exists()


@pytest.mark.parametrize("exact", [False, True])
def test_exact_decode_feeds_every_pixel(lite0, image_dir, tmp_path, exact):
    """--exact-decode: the network input of a large JPEG is the full decode's; by default the
    reduced decode's, within the tolerance of tests/test_decode_size.py of the exact one."""
    from gradcam.batch import JobSettings, run_batch

    folder = tmp_path / "in"
    folder.mkdir()
    large = image_dir / "large_half.jpg"
    (folder / large.name).write_bytes(large.read_bytes())
    run_batch(lite0, folder, tmp_path / "out", JobSettings(exact_decode=exact), progress=False)
    saved = np.load(tmp_path / "out" / f"{large.name}.npz")["input"]
    np.testing.assert_array_equal(saved, network_input(lite0, large, exact))
    difference = np.abs(saved.astype(int) - network_input(lite0, large, not exact))
    assert 0 < difference.mean() <= 0.5 and difference.max() <= 16


@pytest.fixture(scope="module")
def beam_dir(tmp_path_factory):
    """A few dozen images for the Beam comparison: 7 variants of each photo (flips, crops, a
    rotation; PNG and JPEG, some in a subfolder) and one broken file."""
    folder = tmp_path_factory.mktemp("beam_images")
    (folder / "sub").mkdir()
    for name in PHOTOS:
        rgb = photo(name)
        h, w = rgb.shape[:2]
        variants = [
            rgb,
            rgb[:, ::-1],
            rgb[::-1],
            rgb[: h // 2, : w // 2],
            rgb[h // 2 :, w // 2 :],
            rgb[h // 6 : -h // 6, w // 6 : -w // 6],
            np.rot90(rgb),
        ]
        for i, variant in enumerate(variants):
            small = Image.fromarray(np.ascontiguousarray(variant))
            small = small.resize((192, 192 * small.height // small.width))
            target = folder / "sub" if i % 3 == 0 else folder
            small.save(target / f"{name}_{i}.{'png' if i % 2 else 'jpg'}", quality=95)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return folder


@pytest.mark.beam
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
        assert beam[path]["target"]["probability"] == pytest.approx(
            record["target"]["probability"], abs=1e-5
        )
        ours, theirs = np.load(tmp_path / "beam" / record["npz"]), np.load(out / record["npz"])
        # Beam's chunks group images by a hash of their path, so a batch holds other images than
        # batch mode's: float32 sums then differ by an ulp or so (as in the test above, 1e-5)
        np.testing.assert_allclose(ours["map"], theirs["map"], rtol=0, atol=1e-5)
        np.testing.assert_array_equal(ours["target"], theirs["target"])


def _beam_error(capsys, argv):
    """Run ``gradcam beam`` expecting a one-line user error; returns the line."""
    from gradcam.cli import main

    assert main(["beam", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradcam: error: "), err
    return err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model-file", "/nonexistent.pb"], "model file not found: /nonexistent.pb"),
        (["--input-tensor", "input"], "gradcam beam does not take --input-tensor"),
        (["--threads", "2"], "gradcam beam does not take --threads"),
        (["--checkpoint", "/nonexistent.ckpt"], "checkpoint not found: /nonexistent.ckpt"),
        (["--class", "no such class"], "unknown class 'no such class'"),
        (["--top-k", "0"], "--top-k must be at least 1"),
        (["--outputs", "png,npz"], "keep jsonl in --outputs"),
    ],
)
def test_beam_refuses_mistakes_on_the_driver(image_dir, tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    assert message in _beam_error(capsys, [str(image_dir), "--out", str(out), *flags])
    assert not out.exists()  # refused before the pipeline started


@pytest.mark.beam
def test_failed_beam_run_is_one_line_and_leaves_no_staging_folder(
    lite0, image_dir, tmp_path, capsys
):
    from gradcam.model_cache import PROCESS_MODELS

    PROCESS_MODELS.put(lite0)
    out = tmp_path / "out"
    err = _beam_error(capsys, [str(image_dir), "--out", str(out), "--layer", "no_such_layer"])
    assert "unknown layer 'no_such_layer'" in err  # raised in the worker
    assert not list(out.glob("beam-temp-*")) and not (out / "results.jsonl").exists()


def test_worker_user_error_is_found_in_a_remote_traceback():
    from gradcam.beam_pipeline import _worker_user_error

    text = (
        "Pipeline failed: Error processing instruction bundle_3. Original traceback is\n"
        'Traceback (most recent call last):\n  File "gradcam/model.py", line 141\n'
        "gradcam.errors.UserError: unknown layer 'x' [while running 'ExplainAndWrite']\n\n"
    )
    assert (
        _worker_user_error(RuntimeError(text))
        == "unknown layer 'x' [while running 'ExplainAndWrite']"
    )
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


@pytest.mark.parametrize("exact", [False, True])
def test_unexpected_decode_error_is_that_files_error(lite0, tmp_path, monkeypatch, exact):
    import gradcam.batch.job
    from gradcam.batch import JobSettings, run_batch

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c"):
        Image.fromarray(photo("coffee")).resize((64, 48)).save(folder / f"{name}.png")

    def crashing(real):
        def load(path, *args, **kwargs):
            if Path(path).name == "b.png":
                raise RuntimeError("decoder crashed")
            return real(path, *args, **kwargs)

        return load

    monkeypatch.setattr(gradcam.batch.job, "load_scaled", crashing(gradcam.batch.job.load_scaled))
    settings = JobSettings(batch_size=2, exact_decode=exact)
    done, summary = _finishes(
        lambda: run_batch(lite0, folder, tmp_path / "out", settings, progress=False), 120
    )
    assert done, "batch run hung after a decoder error"
    assert not isinstance(summary, Exception), summary
    assert (summary["images"], summary["errors"]) == (2, 1)
    error = summary["failed"][0]["error"]
    assert "b.png: cannot decode (RuntimeError: decoder crashed)" in error
    records = {Path(r["path"]).name: r for r in _lines(tmp_path / "out")}
    assert "error" in records["b.png"] and not (tmp_path / "out" / "b.png.png").exists()
    assert all((tmp_path / "out" / records[n]["npz"]).exists() for n in ("a.png", "c.png"))


def test_decode_thread_failure_reaches_the_consumer():
    from concurrent.futures import ThreadPoolExecutor

    from gradcam.batch import ahead

    def decode(path):
        if path == "second":
            raise KeyError("bug in decode itself")
        return path

    seen = []

    def consume():
        for item in ahead(decode, ["first", "second", "third"], pool, 2):
            seen.append(item)

    with ThreadPoolExecutor(2) as pool:
        done, outcome = _finishes(consume, 20)
    assert done, "consumer hung after a decode thread failed"
    assert isinstance(outcome, KeyError) and "bug in decode itself" in str(outcome)
    assert seen == ["first"]  # in order, up to the failing item


def test_ahead_keeps_order_and_stays_bounded():
    """Results come in input order whatever order the pool finishes them in, and no more than
    ``depth`` items are ever submitted beyond what the consumer has taken."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from gradcam.batch import ahead

    lock, started, taken, worst = threading.Lock(), [0], [0], [0]

    def slow_first(i):
        with lock:
            started[0] += 1
            worst[0] = max(worst[0], started[0] - taken[0])
        time.sleep(0.05 if i % 3 == 0 else 0.0)  # later items finish before earlier ones
        return i * i

    out = []
    with ThreadPoolExecutor(3) as pool:
        for value in ahead(slow_first, range(20), pool, 4):
            with lock:
                taken[0] += 1
            out.append(value)
    assert out == [i * i for i in range(20)]
    assert worst[0] <= 4


def test_inputs_that_would_share_an_output_name_are_refused(tmp_path):
    from gradcam.batch import list_inputs
    from gradcam.errors import UserError

    (tmp_path / "a").mkdir()
    for path in (tmp_path / "a" / "b.png", tmp_path / "a__b.png"):
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    with pytest.raises(UserError, match="would both write a__b.png"):
        list_inputs(str(tmp_path))
