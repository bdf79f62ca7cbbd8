"""The benchmark result dict as a markdown report (tables plus a targets check)."""

from benchmarks import model_files


def ms(summary):
    return f"{summary['median'] * 1e3:.1f}"


def spread(summary):
    return f"{summary['min'] * 1e3:.1f}–{summary['max'] * 1e3:.1f}"


def limits_table(limits):
    lines = [
        "| pass | batch 1 ms/img (min–max) | batched ms/img (min–max) | batched img/s |",
        "|---|---|---|---|",
    ]
    for name, title in (
        ("forward", "forward"),
        ("fwd_bwd_input", "forward + backward to input"),
        ("fwd_bwd_layer", "forward + backward to CAM layer"),
        ("head", "head: the network above the CAM layer, fed its activations"),
    ):
        if f"{name}_b1" not in limits:
            continue
        one, many = limits[f"{name}_b1"], limits[f"{name}_batched"]
        lines.append(
            f"| {title} | {ms(one)} ({spread(one)}) | {ms(many)} ({spread(many)}) | "
            f"{1 / many['median']:.1f} |"
        )
    return lines


def methods_table(rows):
    lines = [
        "| method | options | ms/img (min–max) | session runs | images fed | limit | limit ms | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        options = ", ".join(f"{k}={v}" for k, v in r["options"].items()) or "defaults"
        limit = "" if r["limit_seconds"] is None else f"{r['limit_seconds'] * 1e3:.1f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['method']} | {options} | {ms(r['seconds'])} ({spread(r['seconds'])}) | "
            f"{r['session_runs']} | {r['images_fed']} | {r['limit']} | {limit} | {ratio} |"
        )
    return lines


def pair_table(rows):
    lines = [
        "| method | ours ms | PAIR ms | speed-up | Pearson r (maps) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        r_text = (
            f"{r['pearson']:.4f}"
            if "pearson" in r
            else r.get("note", "(random noise: not compared)")
        )
        lines.append(
            f"| {r['method']} | {ms(r['ours'])} | {ms(r['pair'])} | {r['speedup']:.1f}x | {r_text} |"
        )
    return lines


def batch_table(section):
    lines = [
        f"`gradcam batch` ({section['method']}, --batch-size {section['batch_size']}, JPEG folder):",
        "",
        "| images | img/s | seconds | peak RSS during run (MiB) | process ru_maxrss (MiB) |",
        "|---|---|---|---|---|",
    ]
    for r in section["runs"]:
        lines.append(
            f"| {r['images']} | {r['images_per_second']:.2f} | {r['seconds']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | {r['ru_maxrss_mb']:.0f} |"
        )
    return lines


def throughput_table(section):
    lines = [
        f"`gradcam batch` in this process (model built; --batch-size {section['batch_size']}, "
        f"{section['io_threads']} decoding and {section['io_threads']} writing threads; "
        f"median of {section['repeats']} interleaved rounds):",
        "",
        "| folder, outputs | images | img/s | seconds (min–max) |",
        "|---|---|---|---|",
    ]
    for r in section["rows"]:
        s = r["seconds"]
        lines.append(
            f"| {r['case']} | {r['images']} | {r['images_per_second']:.1f} | "
            f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f}) |"
        )
    lines += [
        "",
        "Start-up (new process, wall time, median):",
        "",
        "| command | seconds |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {v['median']:.2f} |" for name, v in section["startup"].items()]
    beam = section["beam"]
    rounds = ", ".join(
        f"{b:.2f}/{p:.2f}"
        for b, p in zip(beam.get("batch_seconds", []), beam.get("beam_seconds", []))
    )
    lines += [
        "",
        f"Beam against batch mode on {beam['images']} small photos (DirectRunner, one "
        f"worker in this process, the model built once for both; interleaved): batch "
        f"{beam['batch']['median']:.2f} s, Beam {beam['beam']['median']:.2f} s (medians); "
        f"median of the per-round ratios {beam['beam_over_batch']:.2f}x "
        f"(batch/Beam seconds per round: {rounds}).",
    ]
    if "commands" in beam:
        lines += [
            "",
            "The commands end to end (new processes: start-up and model build included):",
            "",
            "| command | seconds |",
            "|---|---|",
        ]
        lines += [f"| `{name}` | {seconds:.1f} |" for name, seconds in beam["commands"].items()]
    return lines


def throughput_targets(section):
    """(check, measured, target, met) rows of the throughput issue's targets."""
    speed = {r["case"]: r["images_per_second"] for r in section["rows"]}
    rows = []
    small, camera = speed.get("small, png,npz,jsonl"), speed.get("12-MP, png,npz,jsonl")
    if small and camera:
        rows.append(
            (
                "12-MP JPEG img/s / small-photo img/s (png,npz,jsonl)",
                f"{camera:.1f} / {small:.1f} = {camera / small:.2f}x",
                ">= 0.5x",
                camera / small >= 0.5,
            )
        )
    lean, raw = speed.get("small, jsonl,npz lowres"), speed.get("raw Grad-CAM")
    if lean and raw:
        rows.append(
            (
                "small photos, --outputs jsonl,npz --npz-maps lowres / bare batched Grad-CAM",
                f"{lean:.1f} / {raw:.1f} = {lean / raw:.2f}x",
                ">= 0.8x",
                lean / raw >= 0.8,
            )
        )
    ratio = section["beam"]["beam_over_batch"]
    rows.append(
        (
            f"Beam (1 worker) / batch mode seconds, {section['beam']['images']} photos",
            f"{ratio:.2f}x",
            "<= 1.25x",
            ratio <= 1.25,
        )
    )
    return rows


def sessions_table(rows, batch):
    lines = [
        f"| session setting | forward b1 ms | forward b{batch} ms/img | fwd+bwd input b1 ms | "
        f"fwd+bwd input b{batch} ms/img |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {ms(r['forward_b1'])} | {ms(r[f'forward_b{batch}'])} | "
            f"{ms(r['fwd_bwd_input_b1'])} | {ms(r[f'fwd_bwd_input_b{batch}'])} |"
        )
    return lines


def targets(result):
    """(check, measured, target, met) rows of the issue's targets that this run measured."""
    by_name = {r["method"]: r for r in result["methods"]}
    rows = []

    def ratio(name, label, bound):
        if name in by_name and by_name[name]["ratio"] is not None:
            value = by_name[name]["ratio"]
            rows.append((label, f"{value:.2f}x", f"<= {bound}x", value <= bound))

    ratio("grad_cam", "Grad-CAM / fwd+bwd to layer", 1.15)
    k = result["classes"]
    rows.append(
        (
            f"Grad-CAM, {k['classes']} classes of one image / 1 class",
            f"{k['ratio']:.2f}x",
            "<= 1.5x",
            k["ratio"] <= 1.5,
        )
    )
    ratio("smoothgrad", "SmoothGrad / its batched fwd+bwd to input", 1.1)
    ratio("integrated_gradients", "IG / its batched fwd+bwd to input", 1.1)
    for r in result.get("pair", []):
        if (
            r["method"].startswith(("smoothgrad", "integrated_gradients ("))
            and "PAIR batch" not in r["method"]
        ):
            rows.append(
                (
                    f"speed-up over PAIR defaults: {r['method']}",
                    f"{r['speedup']:.1f}x",
                    ">= 3x",
                    r["speedup"] >= 3,
                )
            )
    section = result.get("batch_mode", {})
    if section.get("runs"):
        raw = 1 / result["limits"]["fwd_bwd_layer_batched"]["median"]
        best = max(r["images_per_second"] for r in section["runs"])
        rows.append(
            (
                "gradcam batch img/s / raw fwd+bwd-to-layer img/s",
                f"{best / raw:.2f}x",
                ">= 0.9x",
                best / raw >= 0.9,
            )
        )
        small, large = section["runs"][0], section["runs"][-1]
        growth = large["peak_rss_mb"] - small["peak_rss_mb"]
        rows.append(
            (
                f"peak RSS growth {small['images']} -> {large['images']} images",
                f"{growth:+.0f} MiB",
                "no growth (< 5%)",
                growth < 0.05 * small["peak_rss_mb"],
            )
        )
    if "throughput" in result:
        rows += throughput_targets(result["throughput"])
    if "model_files" in result:
        rows += model_file_targets(result["model_files"])
    return rows


def model_file_targets(section):
    """(check, measured, target, met) rows of the any-model issue's speed targets."""
    own = section["own_passes"]["ratio"]
    rows = [
        (
            "Grad-CAM on an imported Keras model / its own fwd+bwd to the layer",
            f"{own:.2f}x",
            "<= 1.2x",
            own <= 1.2,
        )
    ]
    vis = section["tf_keras_vis"]
    if "speedup" in vis:
        rows.append(
            (
                "tf-keras-vis Gradcam time / ours (same flat Keras 3 model and images)",
                f"{vis['speedup']:.1f}x",
                "> 1x (ours faster)",
                vis["speedup"] > 1,
            )
        )
    return rows


def markdown(result):
    batch = result["batch"]
    lines = [
        f"# Benchmarks: {result['model']} at {result['image_size']} px on this CPU",
        "",
        f"{result['cpu_count']} cores ({result['cpu']}), load average at start "
        f"{result['load_average_start'][0]:.1f}, at end {result['load_average_end'][0]:.1f}; "
        f"batched = batch {batch}; medians of {result['repeats']} repeats unless noted"
        f"{' (QUICK smoke run: numbers not meaningful)' if result['quick'] else ''}. "
        f"Command: `python benchmarks/run.py`.",
        "",
        "## Targets",
        "",
        "| check | measured | target | met |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c} | {m} | {t} | {'yes' if ok else 'NO'} |" for c, m, t, ok in targets(result)]
    lines += ["", "## The limit: passes of the network", ""] + limits_table(result["limits"])
    lines += ["", "## Methods (one image, through `explain`)", ""] + methods_table(
        result["methods"]
    )
    k = result["classes"]
    lines += [
        "",
        f"Grad-CAM for {k['classes']} classes of one image: {ms(k['all_classes'])} ms vs "
        f"{ms(k['one_class'])} ms for one class ({k['ratio']:.2f}x).",
    ]
    if "shared_pass" in result:
        p = result["shared_pass"]
        lines += [
            "",
            f"{', '.join(p['methods'])} from one shared pass (`explain_many`): "
            f"{ms(p['shared'])} ms vs {ms(p['separate'])} ms one by one ({p['ratio']:.2f}x).",
        ]
    if "batch_mode" in result:
        lines += ["", "## Batch mode", ""] + batch_table(result["batch_mode"])
    if "throughput" in result:
        lines += [""] + throughput_table(result["throughput"])
    if "model_files" in result:
        lines += ["", "## Keras model files (`python benchmarks/model_files.py`)", ""]
        lines += [f"- {line}" for line in model_files.summary_lines(result["model_files"])]
    if "pair" in result:
        lines += [
            "",
            "## PAIR saliency on the same graph and session",
            "",
            "PAIR's own defaults: one image per model call (`batch_size=1`).",
            "",
        ]
        lines += pair_table(result["pair"])
    if "sessions" in result:
        lines += ["", "## Session settings (same graph, fresh session)", ""]
        lines += sessions_table(result["sessions"], batch)
        g = result["guided_override"]
        lines += [
            "",
            f"Plain backward under the guided-backprop gradient override (the guided path is "
            f"built separately) vs TensorFlow's own ReLU gradient, fwd+bwd to input at batch {g['batch']}: "
            f"{g['with_override'] * 1e3:.1f} vs {g['plain'] * 1e3:.1f} ms/img "
            f"({g['overhead'] * 100:+.1f}%), max |difference| {g['max_abs_difference']:.1e}.",
        ]
    return "\n".join(lines) + "\n"
