"""DIFF/report.html and DIFF/diff.json: the page a person reads and its machine twin.

The page is static and opens from disk: a summary table per method and per class (each figure
beside its noise floor), histograms of A-to-B IoU against the floor's, the "largest change"
gallery (A's map, B's map, and B minus A in a diverging colour scale, on A's input), and the
strategy diff when one was computed. Pictures are PNG files beside the page.
"""

import html
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from gradcam.errors import UserError
from gradcam.model_diff.summary import SUMMARY_FIGURES
from gradcam.visualize import new_figure, overlay, save_figure

SHOWN_FIGURES = (
    "median_iou",
    "floor_iou",
    "iou_drift",
    "median_spearman",
    "floor_spearman",
    "median_peak_shift",
    "median_centroid_shift",
    "centroid_drift",
    "changed_share",
    "mean_probability_change",
    "top1_agreement",
    "images",
)


def prepare_out_dir(out) -> Path:
    """UserError unless ``out`` is absent, empty, or a previous diff's folder (it is replaced)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{{argument}} {out}: exists and is not a folder", "out")
    if out.is_dir() and any(out.iterdir()) and not (out / "diff.json").is_file():
        raise UserError(
            f"{{argument}} {out}: a non-empty folder that holds no earlier diff; give a new or "
            "empty folder",
            "out",
        )
    parent = out.resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UserError(f"{{argument}} {out}: cannot write in {parent}", "out")
    return out


def write_report(diff, out, gallery) -> Path:
    """Write the page, its pictures and diff.json into ``out``, all or nothing: they are made
    in a temporary folder beside it that then takes its place. ``gallery``: [(ImageDiff, method,
    A's input uint8, A's map, B's map in A's frame)] of the largest changes."""
    out = prepare_out_dir(out)
    staging = Path(tempfile.mkdtemp(dir=out.resolve().parent, prefix=f".{out.name}.tmp-"))
    try:
        pictures = _pictures(diff, staging, gallery)
        (staging / "diff.json").write_text(json.dumps(diff.as_json(), indent=1) + "\n")
        (staging / "report.html").write_text(_page(diff, pictures, gallery))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out / "report.html"


def _pictures(diff, folder, gallery):
    names = {"histograms": "iou_histograms.png"}
    methods = diff.methods
    figure, axes = new_figure(1, len(methods), 4.0, 3.0)
    for ax, method in zip(axes.flat, methods):
        changes = [im.changes[method].iou for im in diff.images]
        floors = [im.floors[method].iou for im in diff.images]
        bins = np.linspace(0, 1, 21)
        ax.hist(floors, bins, alpha=0.6, label="A vs A (floor)", color="tab:gray")
        ax.hist(changes, bins, alpha=0.6, label="A vs B", color="tab:red")
        ax.set_title(f"{method}: top-{diff.settings['fraction']:.0%} IoU", fontsize=9)
        ax.set_xlabel("IoU")
        ax.legend(fontsize=7)
    figure.tight_layout()
    save_figure(folder / names["histograms"], figure)
    for k, (image, _method, shown, map_a, map_b) in enumerate(gallery):
        figure, axes = new_figure(1, 3, 2.6, 2.8)
        for ax in axes.flat:
            ax.axis("off")
        axes[0, 0].imshow(overlay(shown, map_a))
        axes[0, 0].set_title(f"A: {image.top1_a}", fontsize=8)
        axes[0, 1].imshow(overlay(shown, map_b))
        axes[0, 1].set_title(f"B: {image.top1_b}", fontsize=8)
        axes[0, 2].imshow(shown, alpha=0.35)
        axes[0, 2].imshow(
            np.asarray(map_b, np.float32) - map_a, cmap="RdBu_r", vmin=-1, vmax=1, alpha=0.8
        )
        axes[0, 2].set_title("B - A", fontsize=8)
        figure.tight_layout()
        names[k] = f"change_{k:03d}.png"
        save_figure(folder / names[k], figure)
    return names


def _table(rows, header):
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_text(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def _text(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)


def _page(diff, pictures, gallery):
    s = diff.settings
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>gradcam diff</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}"
        "th{background:#eee}.flag{color:#b00}img{max-width:100%}figure{display:inline-block;"
        "margin:6px;width:560px}figcaption{font-size:12px}</style></head><body>",
        f"<h1>Did the evidence move? {html.escape(s['model_a'])} &rarr; "
        f"{html.escape(s['model_b'])}</h1>",
        f"<p>{len(diff.images)} images of {html.escape(str(s['data']))}; methods "
        f"{', '.join(diff.methods)}; maps compared in A's {s['frame']} input frame; top "
        f"{s['fraction']:.0%} masks; noise floor: A against A under Gaussian noise of "
        f"{s['noise']:g} grey levels (and re-seeded, for randomised methods); seed {s['seed']}.</p>",
        "<p>Drift figures are multiples of the floor: about 1 means the maps moved as much as "
        "noise moves A's own map. An image is <span class='flag'>flagged</span> when the methods "
        "disagree about whether it changed.</p>",
        "<h2>Summary</h2>",
        _table(
            [[m] + [diff.summary[m][f] for f in SHOWN_FIGURES] for m in diff.methods],
            ["method", *SHOWN_FIGURES],
        ),
        "<!--gate-->",
        "<h2>Per class</h2>",
        _table(
            [
                [c["class"], m] + [c["summary"][m][f] for f in SHOWN_FIGURES]
                for c in diff.classes
                for m in diff.methods
            ],
            ["class", "method", *SHOWN_FIGURES],
        ),
        f"<img src='{pictures['histograms']}' alt='IoU histograms'>",
    ]
    parts.append(f"<h2>Largest changes ({diff.methods[0]})</h2>")
    for k, (image, method, *_ignored) in enumerate(gallery):
        change = image.changes[method]
        caption = (
            f"{image.path} ({image.label}): IoU {change.iou:.2f}, Spearman {change.spearman:.2f}, "
            f"peak moved {change.peak_shift:.1f} px, p {image.probability_a:.2f} &rarr; "
            f"{image.probability_b:.2f}" + (" <span class='flag'>flagged</span>" * image.flag)
        )
        parts.append(
            f"<figure><img src='{pictures[k]}' alt='{html.escape(image.path)}'>"
            f"<figcaption>{caption}</figcaption></figure>"
        )
    parts.append("</body></html>\n")
    gate = ""
    if diff.tripped:
        gate = (
            "<h2 class='flag'>Gate tripped</h2><ul>"
            + "".join(f"<li class='flag'>{html.escape(t.line())}</li>" for t in diff.tripped)
            + "</ul>"
        )
    return "".join(parts).replace("<!--gate-->", gate + _strategies_html(diff), 1)


def _strategies_html(diff):
    if not any(c.get("strategies") for c in diff.classes):
        return ""
    rows = []
    for c in diff.classes:
        for change in (c.get("strategies") or {}).get("changes", []):
            rows.append([c["class"], change["kind"], change["sentence"]])
    return "<h2>Strategies (audit clusters of A and B, matched by mean map)</h2>" + _table(
        rows, ["class", "change", "what"]
    )


assert set(SHOWN_FIGURES) <= set(SUMMARY_FIGURES)
