"""Auditing a model across a data set: which strategies it uses per class, and whether one is a
Clever-Hans shortcut (SpRAy, Lapuschkin et al. 2019, with a causal test of each strategy)::

    import gradcam
    model = gradcam.Model("model.keras", labels="labels.txt")
    result = gradcam.audit(model, "data/", out="audit/")     # audit/report.html, audit/audit.json
    for cls, cluster in result.suspicious():
        print(cls.name, cluster.id, cluster.test.drop, cluster.members[:3])

Steps: ``collect`` (one feature-resolution map per image through the batch pipeline),
``strategies.find_strategies`` (spectral clustering per class), ``priors.map_priors`` (where
each cluster's evidence sits), ``shortcut.shortcut_test`` and ``shortcut.judge`` (masking and
transplanting its hot region, with controls, and the consistency of that region), then
``report.write_report``. Each is a library function the ``diff`` command can reuse.
"""

import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import scipy
import sklearn

from gradcam import __version__
from gradcam.arrays import probabilities_of
from gradcam.auditing.collect import BY, Collected, collect, load_batch_outputs
from gradcam.auditing.priors import CORNERS, map_priors
from gradcam.auditing.report import members_file_name, write_report
from gradcam.auditing.shortcut import (
    FILLS,
    ShortcutRule,
    ShortcutTest,
    hot_region,
    judge,
    shortcut_test,
)
from gradcam.auditing.strategies import Strategies, find_strategies, min_maps, normalise_maps
from gradcam.batch import ImageJob, JobSettings
from gradcam.dataset import LabelledImages, read_labelled_folder
from gradcam.errors import UserError
from gradcam.postprocess import cam_map
from gradcam.visualize import overlay
from nets.tf_compat import tf

__all__ = [
    "Audit",
    "ClassAudit",
    "ClusterAudit",
    "Collected",
    "ShortcutRule",
    "ShortcutTest",
    "Strategies",
    "Pictures",
    "audit",
    "collect",
    "network_inputs_of",
    "find_strategies",
    "shortcut_test",
]


@dataclass(frozen=True, kw_only=True)
class ClusterAudit:
    """One strategy of one class.

    Attributes:
        id: the cluster's number in its class (0 = the largest).
        members: its images, relative to the data folder; ``wrong``: those the model gets wrong.
        mean_map: float [h, w] mean of the members' unit-mass maps.
        border_mass, corner_mass, spread: mean priors of the members (``priors.Priors``).
        accuracy: share of members whose top class is their true class (None: unlabelled).
        confidence: mean probability of the class over the members.
        test: the shortcut test; suspicious / reasons: ``shortcut.judge``'s verdict.
        hot_region: bool [H, W] the region R the test masked (the network input's frame).
        members_file: the file of member paths written for a suspicious cluster (else None).
    """

    id: int
    members: tuple
    wrong: tuple
    mean_map: np.ndarray
    border_mass: float
    corner_mass: dict
    spread: float
    accuracy: Optional[float]
    confidence: float
    test: ShortcutTest
    suspicious: bool
    reasons: tuple
    hot_region: np.ndarray
    members_file: Optional[str] = None

    def to_json(self) -> dict:
        test = self.test.to_json()
        return {
            "id": self.id,
            "size": len(self.members),
            "members": list(self.members),
            "wrong": list(self.wrong),
            "border_mass": self.border_mass,
            "corner_mass": self.corner_mass,
            "spread": self.spread,
            "accuracy": self.accuracy,
            "confidence": self.confidence,
            "mean_map": np.round(self.mean_map, 6).tolist(),
            "test": test,
            "position_spread": self.test.position_spread,
            "template_similarity": self.test.template_similarity,
            "template_baseline": self.test.template_baseline,
            "effect": self.test.effect,
            "suspicious": self.suspicious,
            "reasons": list(self.reasons),
            "members_file": self.members_file,
        }


@dataclass(frozen=True, kw_only=True)
class ClassAudit:
    """The strategies of one class (``skipped`` says why a class was not clustered)."""

    name: str
    index: int
    images: int
    accuracy: Optional[float]
    strategies: Optional[Strategies]
    clusters: tuple = ()
    skipped: Optional[str] = None

    def cluster(self, cluster_id: int) -> ClusterAudit:
        return next(c for c in self.clusters if c.id == int(cluster_id))

    def to_json(self) -> dict:
        strategies = self.strategies
        return {
            "class": self.name,
            "index": self.index,
            "images": self.images,
            "accuracy": self.accuracy,
            "n_clusters": strategies.n_clusters if strategies else 0,
            "eigenvalues": strategies.eigenvalues.tolist() if strategies else [],
            "eigengap": strategies.gap if strategies else None,
            "eigen_solver": strategies.eigen_solver if strategies else None,
            "clusters": [c.to_json() for c in self.clusters],
            "skipped": self.skipped,
        }


@dataclass(frozen=True, kw_only=True)
class Audit:
    """Everything an audit found; ``to_json`` is audit.json."""

    classes: tuple
    method: str
    layer: str
    by: str
    seed: int
    n_neighbors: int
    max_clusters: int
    area: float
    fill: str
    max_images: int
    rule: ShortcutRule
    data: str
    errors: tuple = ()
    versions: dict = field(default_factory=dict)
    out: Optional[Path] = None

    def suspicious(self) -> list:
        """[(ClassAudit, ClusterAudit)] of the suspicious clusters, largest effect first."""
        found = [(c, k) for c in self.classes for k in c.clusters if k.suspicious]
        return sorted(found, key=lambda pair: -pair[1].test.effect)

    def of_class(self, query) -> ClassAudit:
        """The ClassAudit of a class name or index."""
        for item in self.classes:
            if str(query) in (item.name, str(item.index)):
                return item
        raise UserError(f"no audited class {query!r}; audited: {[c.name for c in self.classes]}")

    def to_json(self) -> dict:
        return {
            "classes": [c.to_json() for c in self.classes],
            "suspicious": [
                {"class": c.name, "cluster": k.id, "effect": k.test.effect}
                for c, k in self.suspicious()
            ],
            "method": self.method,
            "layer": self.layer,
            "by": self.by,
            "seed": self.seed,
            "n_neighbors": self.n_neighbors,
            "max_clusters": self.max_clusters,
            "area": self.area,
            "fill": self.fill,
            "max_images": self.max_images,
            "rule": self.rule.to_json(),
            "data": self.data,
            "errors": list(self.errors),
            "versions": self.versions,
        }


def versions() -> dict:
    """The versions an audit's numbers depend on (recorded in audit.json)."""
    return {
        "gradcam": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }


def check_out(out, root):
    """UserError when AUDIT cannot be written or lies inside DATA (its pictures would be read as
    data next time)."""
    out = Path(out).resolve()
    root = Path(root).resolve()
    if out == root or root in out.parents:
        raise UserError(f"{{argument}} {out} lies inside the data folder {root}", "out")
    if out.exists() and not out.is_dir():
        raise UserError(f"{{argument}} {out} is a file, not a folder", "out")


def audit(
    model,
    data,
    *,
    out=None,
    method: str = "grad_cam",
    layer: Optional[str] = None,
    by: str = "true",
    classes=None,
    k: int = 10,
    max_clusters: int = 8,
    seed: int = 0,
    area: float = 0.1,
    fill: str = "mean",
    max_images: int = 64,
    rule: ShortcutRule = ShortcutRule(),
    batch_size: int = 32,
    options: Optional[dict] = None,
    maps=None,
    resume: bool = False,
    progress: bool = False,
    report: bool = True,
) -> Audit:
    """Audit ``model`` on the images of ``data``.

    Args:
        model: a ``gradcam.Model``.
        data: a folder (class subfolders, or flat) or a ``gradcam.dataset.LabelledImages``.
        out: the AUDIT folder (collection, maps.npz, report.html, audit.json); None = a
            temporary folder, removed afterwards (nothing written).
        method, layer, options, batch_size: the explanation method and its settings.
        by: "true" groups by the subfolders' classes, "predicted" by the top class (always for
            a flat folder).
        classes: restrict to these classes (names or indices; list or comma-separated).
        k, max_clusters, seed: the clustering (``strategies.find_strategies``); the seed also
            draws the test's samples and its random regions.
        area, fill, max_images, rule: the shortcut test (``shortcut``): hot region share, how
            it is filled, the most images per part of a test, and the flagging rule.
        maps: read the maps from this ``gradcam batch``/``gradcam beam`` output folder
            (``--outputs npz,jsonl --npz-maps lowres``) instead of collecting them.
        resume: continue an interrupted collection in ``out``.
        progress: show the collection's progress bar.
        report: write report.html, audit.json and the pictures (with ``out``).

    Raises:
        UserError: bad data folder, bad settings, no class with enough images.
    """
    if fill not in FILLS:
        raise UserError(f"{{argument}} must be one of {', '.join(FILLS)}, got {fill!r}", "fill")
    if by not in BY:
        raise UserError(f"{{argument}} must be one of {', '.join(BY)}, got {by!r}", "by")
    for name, value, low in (
        ("k", k, 1),
        ("max_clusters", max_clusters, 1),
        ("max_images", max_images, 2),
    ):
        if value < low:
            raise UserError(f"{{argument}} must be at least {low}, got {value}", name)
    if not 0 < area < 1:
        raise UserError(f"{{argument}} must be between 0 and 1, got {area}", "area")
    if not isinstance(data, LabelledImages):
        data = read_labelled_folder(data, model.labels, classes=classes)
    by = by if data.labelled else "predicted"
    _check_counts(data, by, k)
    if out is not None:
        check_out(out, data.root)
    temporary = tempfile.TemporaryDirectory(prefix="gradcam-audit-") if out is None else None
    folder = Path(out) if out is not None else Path(temporary.name)
    try:
        if maps is not None:
            collected = load_batch_outputs(maps, data)
        else:
            collected = collect(
                model,
                data,
                folder,
                method=method,
                layer=layer,
                by=by,
                batch_size=batch_size,
                options=options,
                resume=resume,
                progress=progress,
            )
        images = network_inputs_of(model, data.root)
        result = _analyse(
            model,
            data,
            collected,
            images,
            method=method,
            layer=layer or model.default_layer,
            by=by,
            k=k,
            max_clusters=max_clusters,
            out=Path(out) if out is not None else None,
            settings=_TestSettings(
                seed=seed,
                max_images=max_images,
                area=area,
                fill=fill,
                rule=rule,
                batch_size=batch_size,
            ),
        )
        if out is not None and report:
            write_report(result, folder, Pictures(model, collected, images))
        return result
    finally:
        if temporary is not None:
            temporary.cleanup()


def _check_counts(data, by, k):
    """UserError before any work when no labelled class has enough images to cluster."""
    if by != "true":
        return
    counts = {c: len(data.of_class(c)) for c in data.class_indices()}
    if max(counts.values()) < min_maps(k):
        raise UserError(
            f"{data.root}: every class has fewer than {min_maps(k)} images (the most: "
            f"{max(counts.values())}); the clustering needs k + 1 = {min_maps(k)} per class "
            "(lower {argument} or add images)",
            "k",
        )


def network_inputs_of(model, root):
    """``images(relative paths) -> uint8 [n, S, S, 3]``: the network inputs of images under
    ``root``, decoded as the collection decodes them (``gradcam.batch.ImageJob.decode``)."""
    job = ImageJob(model, JobSettings(outputs=("jsonl",)), root, root)
    return _Images(job, root)


class _Images:
    """Network inputs of data-set images (relative paths), decoded as the collection did."""

    def __init__(self, job, root):
        self.job, self.root = job, Path(root)

    def __call__(self, relative_paths) -> np.ndarray:
        decoded = [self.job.decode(str(self.root / p)) for p in relative_paths]
        bad = [d.error for d in decoded if d.image is None]
        if bad:
            raise UserError(f"an image changed since it was explained: {bad[0]}")
        return np.stack([d.image for d in decoded])


class Pictures:
    """What ``report.write_report`` draws galleries with: overlays of the collected maps over
    their images, and the members most typical of a cluster."""

    def __init__(self, model, collected, images):
        self.size = model.input_size
        self.row = {p: i for i, p in enumerate(collected.paths)}
        self.collected, self.images = collected, images

    def overlays(self, relative_paths) -> np.ndarray:
        pictures = self.images(relative_paths)
        rows = [self.row[p] for p in relative_paths]
        heat = cam_map(self.collected.maps[rows], self.size)
        return np.stack([overlay(im, h) for im, h in zip(pictures, heat)])

    def typical(self, relative_paths, mean_map, n) -> list:
        """The ``n`` paths whose unit-mass maps lie nearest ``mean_map``, nearest first."""
        rows = [self.row[p] for p in relative_paths]
        masses = normalise_maps(self.collected.maps[rows])
        distance = ((masses - np.asarray(mean_map).reshape(1, -1)) ** 2).sum(axis=1)
        return [relative_paths[i] for i in np.argsort(distance, kind="stable")[:n]]


def _sample(rng, indices, count):
    indices = np.asarray(indices)
    if len(indices) <= count:
        return indices
    return np.sort(rng.choice(indices, count, replace=False))


@dataclass(frozen=True, kw_only=True)
class _TestSettings:
    """How each cluster's shortcut test runs (``audit``'s arguments of the same names)."""

    seed: int
    max_images: int
    area: float
    fill: str
    rule: ShortcutRule
    batch_size: int


def _analyse(model, data, collected, images, *, method, layer, by, k, max_clusters, out, settings):
    groups = collected.true if by == "true" else collected.predicted
    probabilities = probabilities_of(collected.logits, getattr(model, "activation", "softmax"))
    correct = collected.correct
    wanted = data.wanted
    indices = sorted(set(groups.tolist()))
    if wanted is not None:
        indices = [c for c in indices if c in wanted]
    if not indices:
        raise UserError(f"{data.root}: no image is predicted as one of the classes given")
    classes = []
    for c in indices:
        rows = np.flatnonzero(groups == c)
        accuracy = None if correct is None else float(correct[rows].mean())
        name = model.label(c)
        strategies, clusters, skipped = None, (), None
        if len(rows) < min_maps(k):
            skipped = f"{len(rows)} images: the clustering needs at least {min_maps(k)}"
        else:
            strategies = find_strategies(collected.maps[rows], k, max_clusters, settings.seed)
            clusters = _clusters(
                model,
                collected,
                images,
                c,
                rows,
                groups,
                strategies,
                probabilities,
                correct,
                settings,
            )
        classes.append(
            ClassAudit(
                name=name,
                index=int(c),
                images=len(rows),
                accuracy=accuracy,
                strategies=strategies,
                clusters=tuple(clusters),
                skipped=skipped,
            )
        )
    if all(item.strategies is None for item in classes):
        raise UserError(
            f"{data.root}: no class has {min_maps(k)} images to cluster "
            f"({', '.join(f'{c.name}: {c.images}' for c in classes)}); lower {{argument}} "
            "or add images",
            "k",
        )
    return Audit(
        classes=tuple(classes),
        method=method,
        layer=layer,
        by=by,
        seed=settings.seed,
        n_neighbors=k,
        max_clusters=max_clusters,
        area=settings.area,
        fill=settings.fill,
        max_images=settings.max_images,
        rule=settings.rule,
        data=str(data.root),
        errors=collected.errors,
        versions=versions(),
        out=out,
    )


def _clusters(
    model, collected, images, c, rows, groups, strategies, probabilities, correct, settings
):
    """The ClusterAudits of class ``c`` (its collected ``rows``)."""
    rng = np.random.default_rng(settings.seed + int(c))
    masses = normalise_maps(collected.maps[rows]).reshape(collected.maps[rows].shape)
    priors = map_priors(masses)
    size = model.input_size
    scores = collected.logits[:, c].astype(np.float64)
    outside = np.flatnonzero((groups != c) & (collected.predicted != c))
    foreign_rows = _sample(rng, outside, settings.max_images)
    foreign = images([collected.paths[i] for i in foreign_rows]) if len(foreign_rows) else None
    out = []
    for cluster in range(strategies.n_clusters):
        local = strategies.members(cluster)
        members = rows[local]
        mean_map = masses[local].mean(axis=0)
        mask = hot_region(mean_map, size, settings.area)
        chosen = _sample(rng, np.arange(len(local)), settings.max_images)
        rest = np.setdiff1d(np.arange(len(rows)), local)
        others = _sample(rng, rest, settings.max_images)
        test = shortcut_test(
            model,
            c,
            mask,
            members=images([collected.paths[rows[local[j]]] for j in chosen]),
            member_scores=scores[members[chosen]],
            member_peaks=priors.peak[local],
            others=images([collected.paths[rows[j]] for j in others]) if len(others) else None,
            other_scores=scores[rows[others]] if len(others) else None,
            foreign=foreign,
            fill=settings.fill,
            seed=settings.seed + 1000 * int(c) + cluster,
            batch_size=settings.batch_size,
        )
        suspicious, reasons = judge(test, settings.rule)
        paths = [collected.paths[i] for i in members]
        out.append(
            ClusterAudit(
                id=cluster,
                members=tuple(paths),
                wrong=tuple(
                    p for p, i in zip(paths, members) if correct is not None and not correct[i]
                ),
                mean_map=mean_map,
                border_mass=float(priors.border_mass[local].mean()),
                corner_mass={n: float(priors.corner_mass[n][local].mean()) for n in CORNERS},
                spread=float(priors.spread[local].mean()),
                accuracy=None if correct is None else float(correct[members].mean()),
                confidence=float(probabilities[members, c].mean()),
                test=test,
                suspicious=suspicious,
                reasons=reasons,
                hot_region=mask,
                members_file=members_file_name(model.label(c), c, cluster) if suspicious else None,
            )
        )
    return out
