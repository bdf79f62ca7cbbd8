"""Beam rows: images/s on the same photos for ``gradcam batch``, Beam's DirectRunner and Dask with
1 and with 2 workers (one thread and one TensorFlow intra-op thread each), and the driver's peak
memory for an input of many tiny files.

Every row runs the CLI in its own process and reads its ``--json`` summary:
- batch: images/s once the model is loaded (batch's own figure);
- direct: images/s including the pipeline's start and the model load (one process);
- dask-1 / dask-2: a LocalCluster on 127.0.0.1; a warm-up run on a few photos loads the model in
  every worker, then the timed run's images/s include the pipeline's start (not the model load);
- tiny files: N files of 16 bytes (".png" that are not images, so each is an error line and the
  network never runs) through Dask with 2 workers; the driver's peak RSS against a run of 200 such
  files shows whether the driver holds the listing (it should not: the workers match the files).

Usage: python -m benchmarks.beam [--photos 200] [--tiny 100000]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def photos(folder, count):
    """``count`` photos of 320 x 240 (crops and flips of the scikit-image photos)."""
    from conftest import PHOTOS, photo

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        rgb = photo(PHOTOS[i % len(PHOTOS)])
        h, w = rgb.shape[:2]
        y, x = rng.integers(0, h // 4), rng.integers(0, w // 4)
        crop = rgb[y : y + 3 * h // 4, x : x + 3 * w // 4][:, :: 1 if i % 2 else -1]
        Image.fromarray(np.ascontiguousarray(crop)).resize((320, 240)).save(
            folder / f"p{i:04d}.jpg", quality=90
        )
    return folder


def tiny_files(folder, count):
    for i in range(count):
        sub = folder / f"d{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True)
        (sub / f"t{i:06d}.png").write_bytes(b"not an image 16b")
    return folder


def gradcam(argv, cwd):
    started = time.perf_counter()
    ran = subprocess.run(
        [sys.executable, "-m", "gradcam.cli", *argv, "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    if ran.returncode:
        raise SystemExit(f"gradcam {' '.join(argv)} failed: {ran.stderr.strip()[-2000:]}")
    summary = json.loads(ran.stdout.strip().splitlines()[-1])
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    return summary


def dask_rows(work, folder, counts, tiny):
    import distributed

    rows = {}
    for workers in counts:
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            env={"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"},
        )
        flags = ["--runner", "dask", f"--dask_client_address={cluster.scheduler_address}"]
        warm = folder.parent / "warm"
        if not warm.exists():
            warm.mkdir()
            for path in sorted(folder.iterdir())[:16]:
                (warm / path.name).write_bytes(path.read_bytes())
        # 16 one-image chunks spread over the workers: each loads the model before the timed run
        warm_out = str(work / f"warm{workers}")
        gradcam(["beam", str(warm), "--out", warm_out, "--batch-size", "1", *flags], work)
        out = work / f"dask{workers}"
        rows[f"dask-{workers}"] = gradcam(["beam", str(folder), "--out", str(out), *flags], work)
        if workers == 2 and tiny:
            small = tiny_files(work / "tiny_small", 200)
            many = tiny_files(work / "tiny_many", tiny)
            for name, source in (("tiny-200", small), (f"tiny-{tiny}", many)):
                rows[name] = gradcam(["beam", str(source), "--out", str(work / name), *flags], work)
        cluster.close()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--tiny", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = photos(work / "photos", args.photos)
        rows = {
            "batch": gradcam(["batch", str(folder), "--out", str(work / "batch")], work),
            "direct": gradcam(["beam", str(folder), "--out", str(work / "direct")], work),
        }
        rows.update(dask_rows(work, folder, (1, 2), args.tiny))
    print(f"load average at the end: {os.getloadavg()}; cores: {os.cpu_count()}")
    print(
        f"{'row':<14} {'images':>7} {'errors':>7} {'images/s':>9} {'wall s':>7} {'driver MiB':>10}"
    )
    for name, row in rows.items():
        print(
            f"{name:<14} {row['images']:>7} {row['errors']:>7} {row['images_per_second']:>9.2f} "
            f"{row['wall_s']:>7} {row['peak_rss_mb']:>10.0f}"
        )
    if "dask-1" in rows and "dask-2" in rows:
        ratio = rows["dask-2"]["images_per_second"] / max(rows["dask-1"]["images_per_second"], 1e-9)
        print(f"dask 2 workers / 1 worker: {ratio:.2f}x (target >= 1.6x)")


if __name__ == "__main__":
    main()
