"""AUDIT/report.html (one static page that opens from disk), its pictures and audit.json.

Layout: the rule and the caveat, a table of the suspicious clusters ranked by effect, then per
class its eigenvalue plot, its t-SNE embedding coloured by cluster, and per cluster its numbers,
its mean map with the hot region outlined and a gallery of its most typical members (overlays;
a red frame marks an image the model gets wrong). Pictures are PNG files next to the page
(figures/, thumbs/), drawn on matplotlib ``Figure`` objects (no pyplot state); one text file of
member paths per suspicious cluster (suspicious/). Every file is written atomically, the JSON
and the page last, and files of an earlier report that this one does not have are removed.
"""

import html
import json
import re
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

from gradcam.postprocess import upsample
from gradcam.visualize import atomic_write, new_figure, save_figure, save_png

GALLERY = 24
THUMBNAIL = 128  # larger network inputs are shrunk to this many pixels a side in the gallery
FOLDERS = ("figures", "thumbs", "suspicious")
CLUSTER_COLOURS = matplotlib.colormaps["tab10"]


def slug(name, index) -> str:
    """A file-name-safe stem for a class: its name's letters and digits, then its index."""
    return f"{re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_') or 'class'}-{int(index)}"


def members_file_name(name, index, cluster) -> str:
    """Where a suspicious cluster's member paths go, relative to AUDIT."""
    return f"suspicious/{slug(name, index)}-cluster{int(cluster)}.txt"


def write_text(path, text):
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def eigenvalue_figure(strategies):
    figure, axes = new_figure(1, 1, 3.6, 2.6)
    ax = axes[0, 0]
    values = strategies.eigenvalues
    ax.plot(np.arange(1, len(values) + 1), values, "o-", color="#333")
    k = strategies.n_clusters
    if k < len(values):
        ax.axvspan(k + 0.1, k + 0.9, color="#f4b400", alpha=0.35, label=f"largest gap: k={k}")
        ax.legend(fontsize=8, loc="upper left")
    ax.set_xlabel("index", fontsize=8)
    ax.set_ylabel("eigenvalue (normalised Laplacian)", fontsize=8)
    ax.tick_params(labelsize=7)
    figure.tight_layout()
    return figure


def embedding_figure(strategies, suspicious_ids):
    figure, axes = new_figure(1, 1, 3.6, 3.0)
    ax = axes[0, 0]
    points = strategies.embedding
    for cluster in range(strategies.n_clusters):
        chosen = (strategies.labels == cluster) & np.isfinite(points[:, 0])
        ax.scatter(
            points[chosen, 0],
            points[chosen, 1],
            s=14,
            color=CLUSTER_COLOURS(cluster % 10),
            edgecolors="black" if cluster in suspicious_ids else "none",
            linewidths=0.8,
            label=f"{cluster}{' (suspicious)' if cluster in suspicious_ids else ''}",
        )
    ax.legend(fontsize=7, title="cluster", title_fontsize=7, markerscale=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("t-SNE of the maps", fontsize=8)
    figure.tight_layout()
    return figure


def mean_map_picture(mean_map, region, size=96):
    """uint8 picture of a cluster's mean map (jet) with its hot region's outline in white."""
    up = upsample(np.asarray(mean_map, np.float32)[None], region.shape)[0]
    span = up.max() - up.min()
    up = (up - up.min()) / span if span > 0 else np.zeros_like(up)
    picture = (matplotlib.colormaps["jet"](up)[..., :3] * 255).astype(np.uint8)
    edge = region & ~(
        np.roll(region, 1, 0)
        & np.roll(region, -1, 0)
        & np.roll(region, 1, 1)
        & np.roll(region, -1, 1)
    )
    picture[edge] = 255
    scale = max(1, size // max(region.shape))
    return np.repeat(np.repeat(picture, scale, axis=0), scale, axis=1)


def thumbnail(picture, side=THUMBNAIL):
    """uint8 ``picture`` shrunk (PIL, antialiased) to at most ``side`` pixels a side."""
    image = Image.fromarray(np.asarray(picture, np.uint8))
    if max(image.size) > side:
        image.thumbnail((side, side), Image.LANCZOS)
    return np.asarray(image)


def _number(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return html.escape(str(value))


def write_report(audit, out, pictures, gallery: int = GALLERY) -> Path:
    """Write AUDIT's pictures, member files, audit.json and report.html; return the page's path.

    ``pictures``: ``overlays(paths) -> uint8 [n, S, S, 3]`` and ``typical(paths, mean_map, n)
    -> the n members nearest the cluster's mean map``."""
    out = Path(out)
    for name in FOLDERS:
        (out / name).mkdir(parents=True, exist_ok=True)
    written = set()

    def keep(relative):
        written.add((out / relative).resolve())
        return relative

    sections = []
    for item in audit.classes:
        stem = slug(item.name, item.index)
        if item.strategies is None:
            sections.append(
                f'<section class="class"><h2>{html.escape(item.name)}</h2>'
                f"<p>Not clustered: {html.escape(item.skipped)}.</p></section>"
            )
            continue
        flagged = {k.id for k in item.clusters if k.suspicious}
        eigen = keep(f"figures/{stem}-eigenvalues.png")
        save_figure(out / eigen, eigenvalue_figure(item.strategies))
        embed = keep(f"figures/{stem}-embedding.png")
        save_figure(out / embed, embedding_figure(item.strategies, flagged))
        blocks = []
        for cluster in item.clusters:
            blocks.append(_cluster_block(out, stem, cluster, pictures, gallery, keep, audit))
        accuracy = "" if item.accuracy is None else f", accuracy {item.accuracy:.0%}"
        sections.append(
            f'<section class="class" id="{stem}"><h2>{html.escape(item.name)} '
            f"<small>(class {item.index}: {item.images} images{accuracy}, "
            f"{item.strategies.n_clusters} clusters)</small></h2>"
            f'<div class="plots"><img src="{eigen}" alt="eigenvalues of {html.escape(item.name)}">'
            f'<img src="{embed}" alt="embedding of {html.escape(item.name)}"></div>'
            + "".join(blocks)
            + "</section>"
        )
    for _, cluster in audit.suspicious():
        lines = "".join(p + "\n" for p in cluster.members)
        write_text(out / keep(cluster.members_file), lines)
    write_text(out / "audit.json", json.dumps(audit.to_json(), indent=1) + "\n")
    page = out / "report.html"
    write_text(page, _page(audit, sections))
    for name in FOLDERS:  # an earlier report's files this one does not have
        for stale in (out / name).iterdir():
            if stale.is_file() and stale.resolve() not in written:
                stale.unlink()
    return page


def _cluster_block(out, stem, cluster, pictures, gallery, keep, audit):
    test = cluster.test
    mean = keep(f"figures/{stem}-cluster{cluster.id}-mean.png")
    save_png(out / mean, mean_map_picture(cluster.mean_map, cluster.hot_region))
    shown = pictures.typical(cluster.members, cluster.mean_map, gallery)
    thumbs = []
    wrong = set(cluster.wrong)
    for j, (path, picture) in enumerate(zip(shown, pictures.overlays(shown))):
        name = keep(f"thumbs/{stem}-cluster{cluster.id}-{j:02d}.png")
        save_png(out / name, thumbnail(picture))
        css = ' class="wrong"' if path in wrong else ""
        thumbs.append(
            f'<figure{css}><img src="{name}" alt="{html.escape(path)}" title="{html.escape(path)}">'
            f"<figcaption>{html.escape(Path(path).name)}</figcaption></figure>"
        )
    corners = ", ".join(f"{k.replace('_', ' ')} {v:.2f}" for k, v in cluster.corner_mass.items())
    rows = [
        ("members", f"{len(cluster.members)} ({len(cluster.wrong)} wrong)"),
        ("accuracy / mean confidence", f"{_number(cluster.accuracy)} / {cluster.confidence:.3f}"),
        ("border mass", f"{cluster.border_mass:.3f}"),
        ("corner mass", corners),
        ("spread of the mass (image sides)", f"{cluster.spread:.3f}"),
        (
            "drop masking the hot region (95% interval)",
            f"{test.drop:.3f} ({test.drop_interval[0]:.3f} .. {test.drop_interval[1]:.3f}), "
            f"n={test.images}",
        ),
        ("control: random region, same images", f"{test.control_drop:.3f}"),
        (
            "control: same region, class's other images",
            f"{_number(test.other_images_drop)} (n={test.other_images})",
        ),
        (
            "transplant: other classes flipped to this one",
            f"{_number(test.transplant_flip_rate)} (n={test.transplants})",
        ),
        ("p-value (vs both controls)", f"{test.p_value:.3g}"),
        ("peak position spread (image sides)", f"{test.position_spread:.3f}"),
        (
            "patch similarity vs random crops",
            f"{test.template_similarity:.3f} vs {test.template_baseline:.3f}",
        ),
        ("forward passes", str(test.forward_passes)),
        (
            "verdict",
            ("SUSPICIOUS: " if cluster.suspicious else "not flagged: ")
            + "; ".join(cluster.reasons),
        ),
    ]
    table = "".join(f"<tr><th>{html.escape(a)}</th><td>{html.escape(b)}</td></tr>" for a, b in rows)
    flag = " suspicious" if cluster.suspicious else ""
    link = f' <a href="{cluster.members_file}">member list</a>' if cluster.members_file else ""
    return (
        f'<div class="cluster{flag}" id="{stem}-cluster{cluster.id}">'
        f"<h3>cluster {cluster.id}{' — suspicious' if cluster.suspicious else ''}{link}</h3>"
        f'<div class="row"><figure class="mean"><img src="{mean}" alt="mean map of cluster '
        f'{cluster.id}"><figcaption>mean map, hot region outlined</figcaption></figure>'
        f'<table class="numbers">{table}</table></div>'
        f'<div class="gallery">{"".join(thumbs)}</div></div>'
    )


STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
.numbers th { font-weight: normal; color: #555; }
.cluster { border-top: 1px solid #ddd; margin: 0.8em 0; padding-top: 0.4em; }
.cluster.suspicious { background: #fff4f0; border-left: 4px solid #d9480f; padding-left: 8px; }
.row { display: flex; gap: 1em; align-items: flex-start; }
.plots img { height: 260px; margin-right: 1em; }
.gallery { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px; }
figure { margin: 0; text-align: center; font-size: 10px; color: #666; }
.gallery img, .mean img { width: 96px; height: 96px; image-rendering: pixelated; display: block; }
figure.wrong img { outline: 3px solid #c00; }
.caveat { background: #f6f6f6; padding: 0.6em 1em; border-left: 4px solid #888; }
"""


def _page(audit, sections):
    rule = audit.rule
    flagged = audit.suspicious()
    if flagged:
        rows = "".join(
            f'<tr><td><a href="#{slug(c.name, c.index)}-cluster{k.id}">{html.escape(c.name)} / '
            f"cluster {k.id}</a></td><td>{len(k.members)}</td><td>{k.test.drop:.3f}</td>"
            f"<td>{k.test.control_drop:.3f}</td><td>{_number(k.test.other_images_drop)}</td>"
            f"<td>{_number(k.test.transplant_flip_rate)}</td><td>{k.test.p_value:.2g}</td>"
            f"<td>{k.test.position_spread:.3f}</td><td>{k.test.template_similarity:.2f}</td>"
            f'<td><a href="{k.members_file}">{html.escape(k.members_file)}</a></td></tr>'
            for c, k in flagged
        )
        table = (
            '<table id="suspicious"><tr><th>class / cluster</th><th>images</th><th>drop</th>'
            "<th>random-region drop</th><th>other images' drop</th><th>transplant flips</th>"
            "<th>p</th><th>peak spread</th><th>patch similarity</th><th>members</th></tr>"
            f"{rows}</table>"
        )
    else:
        table = '<p id="suspicious">No cluster meets the rule.</p>'
    skipped = ""
    if audit.errors:
        items = "".join(f"<li>{html.escape(e['error'])}</li>" for e in audit.errors)
        skipped = f"<details><summary>{len(audit.errors)} unreadable images skipped</summary><ul>{items}</ul></details>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>gradcam audit</title>
<style>{STYLE}</style></head><body>
<h1>What the model relies on</h1>
<p>Data: {html.escape(audit.data)}; method {html.escape(audit.method)} at layer
{html.escape(str(audit.layer))}; classes by {html.escape(audit.by)} class; clustering: k={audit.n_neighbors}
nearest neighbours, at most {audit.max_clusters} clusters (largest eigengap), seed {audit.seed}.
Shortcut test: the top {audit.area:.0%} of each cluster's mean map masked ({html.escape(audit.fill)} fill),
at most {audit.max_images} images per part.</p>
<p><b>Rule for "suspicious"</b>: p &le; {rule.alpha:g} against both controls (a random region of
the same area in the same images; the same region in the class's other images), the drop at
least {rule.ratio:g}&times; the larger control, the members' map peaks within
{rule.max_spread:g} image sides of each other (same place), and the members' pixels in the hot
region correlated at least {rule.min_similarity:g} and {rule.min_similarity_gain:g} above
random crops of the class (same content). Masking the object itself also drops the score; only
a patch that is the same thing in the same place is flagged.</p>
<p class="caveat">The members of one cluster are not independent evidence: they were grouped
because their maps look alike, so the test's p-values overstate certainty. The gallery is where
a person decides whether a cluster is a shortcut.</p>
<h2>Suspicious clusters, largest effect first</h2>
{table}
{skipped}
{"".join(sections)}
</body></html>
"""
