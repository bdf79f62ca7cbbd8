"""The strategy diff: each class's audit clusters (``gradcam.auditing``) of model A and of model B,
matched by their mean maps.

Each cluster's mean map (unit mass, at its model's feature resolution) is resampled to a common
``GRID`` x ``GRID`` grid; two clusters' similarity is the cosine of their mean maps there; the
matching is the assignment of A's clusters to B's that maximises the summed similarity
(``scipy.optimize.linear_sum_assignment``), and a pair counts as the same strategy when its
similarity is at least ``SAME``. A's clusters left unmatched vanished, B's appeared; a matched
pair whose shortcut verdict differs changed. Each change is said in a sentence naming where the
strategy's evidence sits, its size and its shortcut-test numbers.
"""

from dataclasses import replace

import numpy as np
from PIL import Image
from scipy.optimize import linear_sum_assignment

from gradcam.auditing import audit

GRID = 16
SAME = 0.5
PLACES = (
    ("top-left", "top", "top-right"),
    ("left", "centre", "right"),
    ("bottom-left", "bottom", "bottom-right"),
)


def on_grid(mean_map, size: int = GRID) -> np.ndarray:
    """A mean map resampled (bilinear) to size x size, rescaled to unit mass."""
    image = Image.fromarray(np.asarray(mean_map, np.float32), mode="F")
    grid = np.maximum(np.asarray(image.resize((size, size), Image.BILINEAR), np.float64), 0)
    total = grid.sum()
    return grid / total if total > 0 else grid


def place(mean_map) -> str:
    """Where a mean map's mass peaks, as one of the nine parts of a 3 x 3 grid of the frame."""
    grid = on_grid(mean_map, 3 * GRID)
    row, column = np.unravel_index(int(np.argmax(grid)), grid.shape)
    return PLACES[row * 3 // grid.shape[0]][column * 3 // grid.shape[1]]


def similarity(a, b) -> float:
    """Cosine of two mean maps on the common grid (1: the same distribution of evidence)."""
    x, y = on_grid(a).ravel(), on_grid(b).ravel()
    scale = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / scale) if scale > 0 else 0.0


def _describe(cluster, images):
    test = cluster.test
    verdict = "a shortcut candidate" if cluster.suspicious else "not flagged"
    return (
        f"evidence at the {place(cluster.mean_map)} for {len(cluster.members)} of {images} images "
        f"(masking it drops the score by {test.drop:.2f}, controls {test.control_drop:.2f} / "
        f"{_number(test.other_images_drop)}; {verdict})"
    )


def _number(value):
    return "n/a" if value is None else f"{value:.2f}"


def _summary(cluster):
    return {
        "id": cluster.id,
        "size": len(cluster.members),
        "place": place(cluster.mean_map),
        "suspicious": cluster.suspicious,
        "drop": cluster.test.drop,
        "control_drop": cluster.test.control_drop,
        "members": list(cluster.members),
    }


def match_clusters(clusters_a, clusters_b, images_a: int, images_b: int, name: str) -> dict:
    """The strategy diff of one class: {"a": [...], "b": [...], "matches": [{"a", "b",
    "similarity", "member_overlap"}], "changes": [{"kind", "a", "b", "sentence"}]}."""
    sims = np.array([[similarity(a.mean_map, b.mean_map) for b in clusters_b] for a in clusters_a])
    pairs = []
    if sims.size:
        rows, cols = linear_sum_assignment(-sims)
        pairs = [(r, c) for r, c in zip(rows, cols) if sims[r, c] >= SAME]
    matched_a, matched_b = {r for r, _ in pairs}, {c for _, c in pairs}
    matches, changes = [], []
    for r, c in pairs:
        a, b = clusters_a[r], clusters_b[c]
        union = set(a.members) | set(b.members)
        overlap = len(set(a.members) & set(b.members)) / len(union) if union else 1.0
        matches.append(
            {"a": a.id, "b": b.id, "similarity": float(sims[r, c]), "member_overlap": overlap}
        )
        if a.suspicious != b.suspicious:
            changes.append(
                {
                    "kind": "flag changed",
                    "a": a.id,
                    "b": b.id,
                    "sentence": f"{name}: A's strategy {a.id}, {_describe(a, images_a)}, is "
                    f"B's strategy {b.id}, {_describe(b, images_b)}",
                }
            )
    for r, a in enumerate(clusters_a):
        if r not in matched_a:
            changes.append(
                {
                    "kind": "vanished",
                    "a": a.id,
                    "b": None,
                    "sentence": f"{name}: A used {_describe(a, images_a)}; B has no such strategy",
                }
            )
    for c, b in enumerate(clusters_b):
        if c not in matched_b:
            changes.append(
                {
                    "kind": "appeared",
                    "a": None,
                    "b": b.id,
                    "sentence": f"{name}: B uses {_describe(b, images_b)}; A had no such strategy",
                }
            )
    return {
        "a": [_summary(a) for a in clusters_a],
        "b": [_summary(b) for b in clusters_b],
        "matches": matches,
        "changes": changes,
    }


def strategy_diffs(model_a, model_b, folder, mapping, *, method, seed, batch_size) -> dict:
    """{A's class index: strategy diff} for every class both audits clustered: the audit of A
    on ``folder`` (a ``gradcam.dataset.LabelledImages``), and of B on the same images with the
    classes carried to B's label space by ``mapping``."""
    mapped = folder
    if folder.labelled:
        mapped = replace(
            folder,
            classes=tuple(int(mapping[c]) for c in folder.classes),
            folders={k: int(mapping[v]) for k, v in folder.folders.items()},
            wanted=None if folder.wanted is None else tuple(int(mapping[c]) for c in folder.wanted),
        )
    options = dict(method=method, seed=seed, batch_size=batch_size, report=False)
    audit_a = audit(model_a, folder, **options)
    audit_b = audit(model_b, mapped, **options)
    by_b = {c.index: c for c in audit_b.classes}
    out = {}
    for cls in audit_a.classes:
        other = by_b.get(int(mapping[cls.index]))
        if cls.strategies is None or other is None or other.strategies is None:
            continue
        out[cls.index] = match_clusters(
            cls.clusters, other.clusters, cls.images, other.images, cls.name
        )
    return out
