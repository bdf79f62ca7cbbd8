"""``gradcam batch`` at the network's speed: images/s on small photos and on 12-MP camera JPEGs
per output choice, against the same batched Grad-CAM with nothing around it; start-up time of the
command line; Beam against batch mode.

- ``raw_grad_cam``: ``explain(model, inputs, method="grad_cam")`` on already prepared network
  inputs, batch by batch: what batch mode would reach if decoding and writing cost nothing.
- ``batch_rows``: ``run_batch`` on a folder (in this process, model already built), one row per
  (folder, output choice, decode), the rows interleaved within each repeat so that load swings
  hit all alike; median of the repeats.
- ``startup``: wall time of ``gradcam --help`` and ``gradcam explain`` of one image (new
  processes: imports, model build, one explanation, files written).
- ``beam_rows``: ``run_pipeline`` (DirectRunner, one in-process worker, the model shared as a
  Beam worker on a long-lived machine would have it) against ``run_batch`` on the same folder,
  interleaved; optionally the two commands end to end in new processes, and ``gradcam beam
  --direct_num_workers=2 --direct_running_mode=multi_processing``.

The 12-MP files are the sample photos upscaled (bicubic) to 4032 x 3024 and saved at JPEG quality
92 (4:2:0), as ``benchmarks/decode.py`` makes them.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(REPO))

from benchmarks.decode import CAMERA_SIZE, upscaled  # noqa: E402
from benchmarks.timing import summarise  # noqa: E402
from gradcam.batch import JobSettings, run_batch  # noqa: E402

# (label, outputs, npz_maps): what a run writes per image
CHOICES = (
    ("png,npz,jsonl", ("png", "npz", "jsonl"), "full"),
    ("jsonl,npz lowres", ("npz", "jsonl"), "lowres"),
    ("png,jsonl", ("png", "jsonl"), "full"),
    ("jsonl", ("jsonl",), "full"),
)


def small_folder(directory, photos, count):
    """``count`` JPEGs (quality 90) cycling through ``photos`` at their own size (about
    500 x 400), each shifted in colour a little so no two files are equal."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        photo = photos[i % len(photos)].astype(np.int16) + rng.integers(-3, 4, size=3)
        Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(
            directory / f"img{i:04d}.jpg", quality=90
        )
    return directory


def camera_folder(directory, photos, count):
    """``count`` 4032 x 3024 JPEGs (quality 92): the sample photos upscaled, copied round."""
    directory.mkdir(parents=True)
    made = []
    for i, photo in enumerate(photos[:count]):
        path = directory / f"cam{i:04d}.jpg"
        upscaled(photo, CAMERA_SIZE).save(path, quality=92)
        made.append(path)
    for i in range(len(made), count):
        shutil.copyfile(made[i % len(made)], directory / f"cam{i:04d}.jpg")
    return directory


def prepared_inputs(model, folder):
    """Network inputs of every file of ``folder`` (decoded as batch mode does)."""
    from gradcam.images import load_scaled

    return np.stack(
        [model.prepare(load_scaled(p, model.decode_size())) for p in sorted(folder.iterdir())]
    )


def raw_grad_cam(model, inputs, batch_size):
    """Seconds of Grad-CAM through ``explain`` on prepared ``inputs``, ``batch_size`` at a time."""
    from gradcam.explanation import explain

    start = time.perf_counter()
    for first in range(0, len(inputs), batch_size):
        explain(model, inputs[first : first + batch_size], None, "grad_cam", batch_size=batch_size)
    return time.perf_counter() - start


def batch_rows(model, folders, cases, batch_size, repeats, raw_inputs=None, log=None):
    """images/s of ``run_batch`` per case, interleaved over ``repeats`` (after one warm-up round).

    Args:
        model: the built model.
        folders: {name: folder of images}.
        cases: (label, folder name, JobSettings keyword dict) triples.
        batch_size: images per session run.
        repeats: timed rounds.
        raw_inputs: optional prepared inputs of the small folder: a "raw Grad-CAM" row is timed
            in the same rounds.
        log: optional progress callback.

    Returns:
        rows: {"case", "folder", "images", "images_per_second" (median), "seconds" (summary)}.
    """
    seconds = {label: [] for label, _, _ in cases}
    if raw_inputs is not None:
        seconds["raw Grad-CAM"] = []
    counts = {name: sum(1 for _ in Path(folder).iterdir()) for name, folder in folders.items()}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats + 1):  # round 0 warms caches and graph pieces
            for index, (label, folder, kwargs) in enumerate(cases):
                settings = JobSettings(model=model.name, batch_size=batch_size, **kwargs)
                out = Path(tmp) / f"out{repeat}_{index}"
                summary = run_batch(model, folders[folder], out, settings, progress=False)
                shutil.rmtree(out)
                if repeat:
                    seconds[label].append(summary["seconds"])
            if raw_inputs is not None:
                took = raw_grad_cam(model, raw_inputs, batch_size)
                if repeat:
                    seconds["raw Grad-CAM"].append(took)
            if log:
                log(f"  throughput round {repeat} done")
    rows = []
    for label, folder, _ in list(cases) + (
        [("raw Grad-CAM", "small", None)] if raw_inputs is not None else []
    ):
        images = counts[folder] if label != "raw Grad-CAM" else len(raw_inputs)
        times = np.asarray(seconds[label])
        rows.append(
            {
                "case": label,
                "folder": folder,
                "images": images,
                "images_per_second": float(images / np.median(times)),
                "seconds": summarise(times),
            }
        )
    return rows


def throughput_cases(quick):
    """(label, folder, JobSettings kwargs): every output choice on small photos; on 12-MP JPEGs
    the default and the lean choice, and the default with --exact-decode (the old path)."""
    cases = [
        (f"small, {label}", "small", {"outputs": outputs, "npz_maps": maps})
        for label, outputs, maps in (CHOICES[:2] if quick else CHOICES)
    ]
    for label, outputs, maps in CHOICES[:2]:
        cases.append((f"12-MP, {label}", "camera", {"outputs": outputs, "npz_maps": maps}))
    cases.append(("12-MP, png,npz,jsonl, --exact-decode", "camera", {"exact_decode": True}))
    return cases


def _wall(command, env=None):
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    return seconds


def _environment():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def startup(photo_path, repeats):
    """Median wall seconds (new processes) of ``gradcam --help`` and of ``gradcam explain`` of one
    image (writing its PNG), and of ``python -c "import tensorflow"`` for reference."""
    env, rows = _environment(), {}
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "gradcam --help": [sys.executable, "-m", "gradcam.cli", "--help"],
            "gradcam explain (one image)": [
                sys.executable,
                "-m",
                "gradcam.cli",
                "explain",
                str(photo_path),
                "--output",
                f"{tmp}/one.png",
            ],
            "import tensorflow": [sys.executable, "-c", "import tensorflow"],
        }
        for name, command in commands.items():
            rows[name] = summarise([_wall(command, env) for _ in range(repeats)])
    return rows


def beam_rows(model, folder, batch_size, repeats, commands=False, log=None):
    """Seconds of ``run_pipeline`` (DirectRunner, one worker, in this process) and ``run_batch``
    on ``folder``, interleaved, the model built once and shared; with ``commands`` also the
    wall time of ``gradcam batch`` / ``gradcam beam`` (1 worker, and 2 multi-processing workers)
    as new processes."""
    import logging

    from gradcam.beam_pipeline import run_pipeline
    from gradcam.model_cache import PROCESS_MODELS

    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    PROCESS_MODELS.put(model)
    settings = JobSettings(model=model.name, batch_size=batch_size)
    runs = {"batch": [], "beam": []}
    images = sum(1 for _ in Path(folder).iterdir())
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats + 1):
            for mode in runs:
                out = Path(tmp) / f"{mode}{repeat}"
                start = time.perf_counter()
                if mode == "batch":
                    run_batch(model, folder, out, settings, progress=False)
                else:
                    run_pipeline(folder, out, settings)
                if repeat:
                    runs[mode].append(time.perf_counter() - start)
                shutil.rmtree(out)
            if log:
                log(f"  beam round {repeat} done")
        result = {
            "images": images,
            "batch_size": batch_size,
            "batch": summarise(runs["batch"]),
            "beam": summarise(runs["beam"]),
            "batch_seconds": runs["batch"],
            "beam_seconds": runs["beam"],
            "beam_over_batch": float(
                np.median(np.asarray(runs["beam"]) / np.asarray(runs["batch"]))
            ),
        }
        if commands:
            result["commands"] = _command_rows(folder, batch_size, Path(tmp))
    return result


def _command_rows(folder, batch_size, tmp):
    """Wall seconds of the commands end to end (new processes: start-up, model build included)."""
    env, rows = _environment(), {}
    base = [sys.executable, "-m", "gradcam.cli"]
    common = [str(folder), "--batch-size", str(batch_size)]
    commands = {
        "gradcam batch": base + ["batch", *common, "--out", str(tmp / "c_batch"), "--no-progress"],
        "gradcam beam (1 worker)": base + ["beam", *common, "--out", str(tmp / "c_beam1")],
        "gradcam beam (2 multi-processing workers)": base
        + [
            "beam",
            *common,
            "--out",
            str(tmp / "c_beam2"),
            "--direct_num_workers=2",
            "--direct_running_mode=multi_processing",
        ],
    }
    for name, command in commands.items():
        rows[name] = _wall(command, env)
    return rows


def throughput_section(model, photos, quick, log=None):
    """Every measurement of this module -> a JSON-able dict (see the module docstring)."""
    small_count, camera_count, repeats = (16, 4, 1) if quick else (96, 24, 3)
    batch_size = 8
    with tempfile.TemporaryDirectory() as tmp:
        folders = {
            "small": small_folder(Path(tmp) / "small", photos, small_count),
            "camera": camera_folder(Path(tmp) / "camera", photos, camera_count),
        }
        raw = prepared_inputs(model, folders["small"])
        if log:
            log("  throughput ...")
        rows = batch_rows(model, folders, throughput_cases(quick), batch_size, repeats, raw, log)
        if log:
            log("  start-up ...")
        start = startup(next(iter(sorted(folders["small"].iterdir()))), 1 if quick else 3)
        if log:
            log("  beam ...")
        beam_folder = small_folder(Path(tmp) / "beam", photos, 16 if quick else 144)
        beam = beam_rows(
            model, beam_folder, batch_size, 1 if quick else 5, commands=not quick, log=log
        )
    return {
        "batch_size": batch_size,
        "repeats": repeats,
        "io_threads": JobSettings().io_thread_count,
        "rows": rows,
        "startup": start,
        "beam": beam,
    }


def main(argv=None):
    """``python benchmarks/throughput.py [--quick]``: this section alone, printed as JSON."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from benchmarks.decode import sample_photos
    from gradcam.model import Model

    model = Model("efficientnet_lite0")
    try:
        result = throughput_section(
            model, sample_photos(), args.quick, log=lambda m: print(m, file=sys.stderr, flush=True)
        )
    finally:
        model.close()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
