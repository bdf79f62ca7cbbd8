"""``gradcam audit``'s benchmark rows (printed, and written as JSON with --out):

1. collection speed against ``gradcam batch --outputs jsonl`` on the same images (EfficientNet-
   Lite0, JPEG photos), best of two runs each after a warm-up;
2. clustering (``find_strategies``) and the report for 5,000 maps of one class (the planted-
   shortcut data set of scripts/make_planted_shortcut.py grown to 5,000 "red" images);
3. the shortcut tests' forward passes per cluster, on that class;
4. memory: peak RSS during the collection of 1,000 and of 5,000 images (psutil sampling).

    python -m benchmarks.audit [--images 5000] [--photos 96] [--out results/benchmarks]
"""

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

from benchmarks.batch_mode import PeakRss, write_folder
from gradcam.auditing import Pictures, audit, network_inputs_of
from gradcam.auditing.collect import collect
from gradcam.auditing.report import write_report
from gradcam.auditing.strategies import find_strategies
from gradcam.batch import JobSettings, run_batch
from gradcam.dataset import LabelledImages, read_labelled_folder
from gradcam.model import Model

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")


def planted_script():
    path = ROOT / "scripts" / "make_planted_shortcut.py"
    spec = importlib.util.spec_from_file_location("make_planted_shortcut", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def collection_speed(count, batch_size=8):
    """Images/s of ``run_batch`` (jsonl only) and of ``collect`` on one folder of JPEGs."""
    model = Model("efficientnet_lite0")
    pictures = [getattr(skimage.data, name)() for name in PHOTOS]
    rows = {"batch_jsonl": [], "audit_collect": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        write_folder(folder, pictures, count)
        data = read_labelled_folder(folder, model.labels)
        settings = JobSettings(outputs=("jsonl",), batch_size=batch_size)
        for run in range(3):  # the first of each is the warm-up
            start = time.perf_counter()
            run_batch(model, str(folder), Path(tmp) / f"batch{run}", settings, progress=False)
            batch = time.perf_counter() - start
            start = time.perf_counter()
            collect(model, data, Path(tmp) / f"audit{run}", batch_size=batch_size, progress=False)
            audit_seconds = time.perf_counter() - start
            if run:
                rows["batch_jsonl"].append(count / batch)
                rows["audit_collect"].append(count / audit_seconds)
    model.close()
    best = {k: max(v) for k, v in rows.items()}
    return {
        "images": count,
        "batch_size": batch_size,
        "batch_jsonl_images_per_second": round(best["batch_jsonl"], 2),
        "audit_collect_images_per_second": round(best["audit_collect"], 2),
        "ratio": round(best["audit_collect"] / best["batch_jsonl"], 3),
    }


def planted_folder(work, count):
    """The planted model (built in its own process) and a data set of ``count`` red images (40%
    tagged) and 100 green and 100 blue ones."""
    script = planted_script()
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_planted_shortcut.py"), str(work)],
        check=True,
        capture_output=True,
    )
    rng = np.random.default_rng(1)
    red = work / "data" / "red"
    for i in range(60, count):
        image = script.make_image(rng, script.COLOURS["red"])
        if rng.random() < 0.4:
            image = script.add_tag(image)
        Image.fromarray(image).save(red / f"{i:05d}.png")
    for name in ("green", "blue"):
        for i in range(60, 100):
            image = script.make_image(rng, script.COLOURS[name])
            Image.fromarray(image).save(work / "data" / name / f"{i:05d}.png")
    return work


def large_class(count):
    with tempfile.TemporaryDirectory() as tmp:
        work = planted_folder(Path(tmp) / "planted", count)
        model = Model(work / "model.keras", labels=str(work / "labels.txt"))
        data = read_labelled_folder(work / "data", model.labels)
        red = [p for p, c in zip(data.paths, data.classes) if c == 0]
        memory = []
        for n in (1000, count):
            subset = LabelledImages(
                root=data.root, paths=tuple(red[:n]), classes=(0,) * n, folders=data.folders
            )
            with PeakRss() as rss:
                start = time.perf_counter()
                collect(model, subset, Path(tmp) / f"mem{n}", progress=False)
                seconds = time.perf_counter() - start
            memory.append(
                {"images": n, "peak_rss_mb": round(rss.peak_mb, 1), "seconds": round(seconds, 2)}
            )
        out = Path(tmp) / "AUDIT"
        start = time.perf_counter()
        result = audit(model, data, out=out, report=False)
        whole = time.perf_counter() - start
        collected = collect(model, data, out, resume=True, progress=False)
        maps = collected.maps[collected.true == 0]
        start = time.perf_counter()
        strategies = find_strategies(maps, 10, 8, 0)
        clustering = time.perf_counter() - start
        start = time.perf_counter()
        write_report(result, out, Pictures(model, collected, network_inputs_of(model, data.root)))
        report = time.perf_counter() - start
        red_audit = result.of_class("red")
        passes = [
            {
                "cluster": k.id,
                "members": len(k.members),
                "forward_passes": k.test.forward_passes,
                "suspicious": k.suspicious,
            }
            for k in red_audit.clusters
        ]
        model.close()
    return {
        "maps": int(len(maps)),
        "map_shape": list(maps.shape[1:]),
        "clusters": strategies.n_clusters,
        "clustering_seconds": round(clustering, 2),
        "report_seconds": round(report, 2),
        "clustering_and_report_seconds": round(clustering + report, 2),
        "audit_without_report_seconds": round(whole, 2),
        "forward_passes_per_cluster": passes,
        "memory": memory,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000, help="maps of the one large class")
    parser.add_argument("--photos", type=int, default=96, help="JPEGs of the speed row")
    parser.add_argument("--out", help="write audit.json into this folder")
    args = parser.parse_args(argv)
    result = {"collection": collection_speed(args.photos)}
    row = result["collection"]
    print(
        f"collection: {row['audit_collect_images_per_second']} images/s vs gradcam batch "
        f"--outputs jsonl {row['batch_jsonl_images_per_second']} images/s "
        f"(ratio {row['ratio']}, {row['images']} JPEGs, EfficientNet-Lite0)"
    )
    result["large_class"] = large = large_class(args.images)
    print(
        f"clustering + report for {large['maps']} maps of one class ({large['map_shape']}): "
        f"{large['clustering_and_report_seconds']} s (clustering {large['clustering_seconds']} s, "
        f"report {large['report_seconds']} s; {large['clusters']} clusters)"
    )
    for row in large["forward_passes_per_cluster"]:
        print(
            f"  cluster {row['cluster']} ({row['members']} members): "
            f"{row['forward_passes']} forward passes{' (suspicious)' if row['suspicious'] else ''}"
        )
    for row in large["memory"]:
        print(
            f"memory: collecting {row['images']} images peaks at {row['peak_rss_mb']} MiB RSS "
            f"({row['seconds']} s)"
        )
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "audit.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
