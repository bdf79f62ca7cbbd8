"""Benchmark suite: the forward/backward limit, every registered method against it, PAIR saliency
side by side, ``gradcam batch`` throughput (small photos and 12-MP JPEGs, per output choice,
against the bare batched Grad-CAM), memory, start-up time and Beam against batch mode. One process,
one model, one run, so the ratios compare like with like on a busy machine.

    python benchmarks/run.py            # full run (several minutes on 2 cores)
    python benchmarks/run.py --quick    # smoke run (seconds)

A developer tool of the source checkout (the installed package ships no benchmark command).

Writes results/benchmarks/benchmark.json and results/benchmarks/README.md.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "results" / "benchmarks"
PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")


def photo(name):
    import skimage.data

    return getattr(skimage.data, name)()


def run_all(
    model,
    quick=False,
    out_dir=DEFAULT_OUT,
    pair=True,
    sessions=True,
    batch_mode=True,
    log=print,
    model_files=True,
):
    """Every measurement; returns the result dict and writes JSON + markdown into ``out_dir``."""
    from benchmarks import limits, methods

    repeats, batch = (2, 4) if quick else (5, 16)
    image = model.prepare(photo("coffee"))
    target = int(model.predict(image[None])[0].argmax())
    result = {
        "model": model.name,
        "image_size": model.image_size,
        "quick": quick,
        "batch": batch,
        "repeats": repeats,
        "target": target,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_start": list(os.getloadavg()),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    log("limits ...")
    passes = limits.time_passes(model.session, model, image, target, batch, repeats)
    result["limits"] = {k.replace(f"_b{batch}", "_batched"): v for k, v in passes.items()}
    log("methods ...")
    result["methods"] = methods.time_methods(model, image, target, batch, repeats, quick)
    classes = [int(c) for c in model.predict(image[None])[0].argsort()[::-1][:5]]
    result["classes"] = methods.time_classes(model, image, classes, batch, repeats)
    result["shared_pass"] = methods.time_shared_pass(model, image, target, repeats)
    if batch_mode:
        log("batch mode ...")
        result["batch_mode"] = batch_section(model, quick)
        from benchmarks.throughput import throughput_section

        result["throughput"] = throughput_section(model, [photo(p) for p in PHOTOS], quick, log)
    if model_files:
        log("Keras model files ...")
        from benchmarks import model_files as keras_files

        result["model_files"] = keras_files.run(quick, log)
    if pair:
        log("PAIR saliency ...")
        from benchmarks import pair_saliency

        result["pair"] = pair_saliency.compare(
            model,
            image,
            target,
            2 if quick else 50,
            batch,
            1 if quick else 3,
            methods.options("occlusion", quick),
        )
    if sessions:
        log("session settings ...")
        result["sessions"] = limits.compare_sessions(model, image, target, batch, 1 if quick else 3)
        result["guided_override"] = limits.guided_override_overhead(
            model, image, target, batch, 2 if quick else 5
        )
    result["load_average_end"] = list(os.getloadavg())
    write(result, Path(out_dir))
    return result


def batch_section(model, quick):
    from benchmarks.batch_mode import batch_runs

    photos = [photo(p) for p in PHOTOS]
    sizes, batch_size = ((2, 4), 2) if quick else ((16, 48), 8)
    return {
        "batch_size": batch_size,
        "method": "grad_cam",
        "runs": batch_runs(model, photos, sizes, batch_size),
    }


def write(result, out_dir):
    from gradcam.visualize import atomic_write

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(
        out_dir / "benchmark.json",
        lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1) + "\n"),
    )
    atomic_write(out_dir / "README.md", lambda tmp: Path(tmp).write_text(report.markdown(result)))


def run(args):
    from gradcam.model import Model

    out = Path(args.out or DEFAULT_OUT)
    model = Model("efficientnet_lite0", threads=args.threads)
    try:
        result = run_all(
            model,
            args.quick,
            out,
            not args.no_pair,
            not args.no_sessions,
            not args.no_batch,
            log=lambda m: print(m, file=sys.stderr, flush=True),
            model_files=not args.no_model_files,
        )
    finally:
        model.close()
    print(report.markdown(result))
    print(f"wrote {out / 'benchmark.json'} and {out / 'README.md'}")
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny repeats and sizes")
    parser.add_argument(
        "--out", default=str(DEFAULT_OUT), help="directory for benchmark.json and README.md"
    )
    parser.add_argument("--no-pair", action="store_true", help="skip the PAIR saliency comparison")
    parser.add_argument(
        "--no-sessions",
        action="store_true",
        help="skip the thread/XLA settings and the guided-switch measurement",
    )
    parser.add_argument(
        "--no-batch",
        action="store_true",
        help="skip gradcam batch throughput/memory, start-up and Beam",
    )
    parser.add_argument(
        "--no-model-files",
        action="store_true",
        help="skip Grad-CAM on Keras model files (vs own passes, vs tf-keras-vis)",
    )
    parser.add_argument("--threads", type=int, help="intra-op threads of the model's session")
    return parser.parse_args(argv)


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
