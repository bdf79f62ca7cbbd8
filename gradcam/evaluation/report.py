"""Writing evaluation reports, each file atomically: JSON with numpy values (NaN as null), text
and Markdown tables, and the report files of an ``EvaluationResult`` (``write_report``) and a
``LocalizationResult`` (``write_localization_report``) of ``gradcam.evaluation.runner``. (The
reproduction scripts' own helpers are scripts/_common.py.)"""

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gradcam.evaluation.box_evaluation import figures_table
from gradcam.evaluation.results import EvaluationResult, LocalizationResult
from gradcam.visualize import atomic_write, new_figure, save_figure


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path, data):
    """JSON with numpy values converted and NaN written as null; atomic."""
    text = json.dumps(_plain(data), indent=2)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def write_text(path, text):
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _csv(rows):
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def plot_curves(path, mean_curves: Mapping[str, Mapping[str, np.ndarray]]):
    """curves.png: the mean deletion and insertion curves of each method."""
    figure, axes = new_figure(1, 2, 4.5, 3.4)
    for ax, kind in zip(axes.flat, ("deletion", "insertion")):
        for name, curves in mean_curves.items():
            values = curves[f"{kind}_curve"]
            ax.plot(np.linspace(0, 1, len(values)), values, label=name)
        ax.set_xlabel(f"fraction of pixels {'removed' if kind == 'deletion' else 'inserted'}")
        ax.set_ylabel("target probability")
        ax.set_title(kind, fontsize=10)
    axes[0, 1].legend(fontsize=7)
    figure.tight_layout()
    save_figure(path, figure)


def _summary_json(result: EvaluationResult) -> dict:
    metrics = result.metrics
    methods = {
        name: {
            "options": scores.options,
            "metrics": {
                k: {
                    "mean": float(np.mean(scores.values[k])),
                    "std": float(np.std(scores.values[k])),
                    "per_image": scores.values[k],
                }
                for k, _ in metrics
            },
            "mean_deletion_curve": scores.mean_curves["deletion_curve"],
            "mean_insertion_curve": scores.mean_curves["insertion_curve"],
        }
        for name, scores in result.methods.items()
    }
    return {
        **result.provenance,
        "protocol": result.protocol.as_dict(),
        "confidence_metrics": "average drop / increase in confidence on the protocol's images, "
        "maps and targets (Chattopadhay et al. 2018)",
        "pointing_game": None
        if result.tolerance is None
        else {
            "boxes": result.boxes,
            "tolerance": result.tolerance,
            "units": "pixels of the images the network sees under the protocol",
        },
        "model": result.model,
        "image_size": result.image_size,
        "layer": result.layer,
        "images": list(result.images),
        "targets": [
            {"index": t, "label": label} for t, label in zip(result.targets, result.labels)
        ],
        "metrics": {k: title for k, title in metrics},
        "methods": methods,
    }


def write_report(result: EvaluationResult, out) -> tuple[str, str]:
    """Write per_image.csv, summary.csv, summary.json, summary.md and curves.png into ``out``.

    Returns:
        (heading, markdown table) of summary.md.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = result.metrics
    per_image = [["image", "method", "target"] + [k for k, _ in metrics]]
    summary = [["method"] + [f"{k}_{s}" for k, _ in metrics for s in ("mean", "std")]]
    table = []
    for name, scores in result.methods.items():
        values = scores.values
        for i, path in enumerate(result.images):
            per_image.append(
                [path, name, result.labels[i]] + [f"{values[k][i]:.6g}" for k, _ in metrics]
            )
        summary.append(
            [name] + [f"{f(values[k]):.6g}" for k, _ in metrics for f in (np.mean, np.std)]
        )
        table.append(
            [name] + [f"{np.mean(values[k]):.3f} ± {np.std(values[k]):.3f}" for k, _ in metrics]
        )
    write_text(out / "per_image.csv", _csv(per_image))
    write_text(out / "summary.csv", _csv(summary))
    plot_curves(out / "curves.png", {n: s.mean_curves for n, s in result.methods.items()})
    write_json(out / "summary.json", _summary_json(result))
    markdown = markdown_table(["method"] + [title for _, title in metrics], table)
    protocol = result.protocol
    steps = (
        f"{protocol.steps} steps"
        if protocol.steps is not None
        else f"{protocol.step_pixels} pixels per step"
    )
    heading = (
        f"{len(result.images)} images, protocol {protocol.name}: {steps}, deletion substrate "
        f"{protocol.deletion_substrate}, insertion canvas {protocol.insertion_substrate}, "
        f"image {protocol.image_geometry}, class {protocol.target}"
    )
    write_text(out / "summary.md", f"{heading}\n\n{markdown}")
    return heading, markdown


def write_localization_report(result: LocalizationResult, out) -> tuple[str, str]:
    """Write localization.json and localization.md into ``out``.

    Returns:
        (heading, markdown table) of localization.md.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    protocol = result.protocol
    write_json(
        out / "localization.json",
        {
            **result.provenance,
            "protocol": protocol.as_dict(),
            "model": result.model,
            "image_size": result.image_size,
            "layer": result.layer,
            "boxes": result.boxes,
            "images": result.images,
            "methods": result.methods,
        },
    )
    markdown = markdown_table(*figures_table(result.methods))
    heading = (
        f"localisation on {result.images} images (protocol {protocol.name}: whole image, "
        f"threshold {protocol.threshold:g} of the maximum, IoU >= "
        f"{protocol.iou_threshold:g}, pointing tolerance "
        f"{protocol.pointing_tolerance:g} px)"
    )
    write_text(out / "localization.md", f"{heading}\n\n{markdown}")
    return heading, markdown
