"""Two models, one data set: explain every image with both, for the same class, and measure how
far the evidence moved, against the noise floor of model A itself.

For each image and method (Grad-CAM and LayerCAM by default, each at its model's default layer):
A's map and B's map, in A's network-input frame (B's is carried there through the photo, so models
of other input sizes or crops compare pixel for pixel; only the part of the photo both models see
counts), and the ``gradcam.model_diff.metrics`` figures between them. The floor is the same figures for A
against A on the image under a tiny input perturbation (Gaussian noise of ``noise`` grey levels,
seeded), and for randomised methods also A re-run with another seed; drift is reported as a
multiple of that floor (``gradcam.model_diff.summary``).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from scipy.ndimage import map_coordinates
from tqdm import tqdm

from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.images import load_image
from gradcam.methods import get_method
from gradcam.model_diff.metrics import GRID, TOP_FRACTION, MapChange, compare_to_many
from gradcam.preprocessing import crop_box, get_preprocessing

DEFAULT_METHODS = ("grad_cam", "layer_cam")


@dataclass(frozen=True, kw_only=True)
class ImageDiff:
    """One image's comparison.

    Attributes:
        path: the image, relative to the data folder ('/' separators).
        class_a / class_b: the explained class in A's and in B's label space.
        label: the class's name in A.
        top1_a / top1_b: each model's top class (names).
        probability_a / probability_b: each model's probability of the explained class.
        changes: {method: MapChange from A's map to B's}.
        floors: {method: MapChange of A against A (the larger change of the perturbation and,
            for randomised methods, the re-seeded run)}.
        changed: {method: True when the change exceeds the method's floor (``summary``)}.
        flag: True when the methods disagree about whether the image changed.
    """

    path: str
    class_a: int
    class_b: int
    label: str
    top1_a: str
    top1_b: str
    probability_a: float
    probability_b: float
    changes: dict
    floors: dict
    changed: dict = field(default_factory=dict)
    flag: bool = False


def class_mapping(model_a, model_b, class_map: Optional[dict] = None) -> np.ndarray:
    """int [C_A]: B's index of each of A's classes (-1 where B has no such class).

    Without ``class_map`` the two label spaces must be the same names; with it (A name -> B name)
    A's classes not named keep their own name if B has it."""
    labels_a, labels_b = list(model_a.labels), list(model_b.labels)
    if class_map is None:
        if labels_a != labels_b:
            raise UserError(
                f"the models have different label spaces (A: {len(labels_a)} classes, B: "
                f"{len(labels_b)}{', other names' * (len(labels_a) == len(labels_b))}); "
                "give {argument} (A name -> B name)",
                "class_map",
            )
        return np.arange(len(labels_a))
    mapping = np.full(len(labels_a), -1)
    for i, name in enumerate(labels_a):
        if name in labels_b:
            mapping[i] = labels_b.index(name)
    for name_a, name_b in class_map.items():
        index_a = _index(model_a, name_a, "A")
        mapping[index_a] = _index(model_b, name_b, "B")
    return mapping


def _index(model, name, which):
    try:
        return model.class_index(name)
    except UserError as exc:
        raise UserError(f"{{argument}}: model {which}: {exc}", "class_map") from None


def frame_sampler(model_a, model_b, width: int, height: int):
    """A function taking B's H_B x W_B map to A's H_A x W_A frame of a width x height photo, and
    the bool mask of A's pixels that B's crop covers; the identity when both see the same."""
    size_a, size_b = tuple(model_a.input_size), tuple(model_b.input_size)
    box_a, box_b = _crop(model_a, width, height), _crop(model_b, width, height)
    if box_a == box_b and size_a == size_b:
        return (lambda m: m), None
    left_a, top_a, cw_a, ch_a = box_a
    left_b, top_b, cw_b, ch_b = box_b
    x = left_a + (np.arange(size_a[1]) + 0.5) / size_a[1] * cw_a  # photo coordinates of A's
    y = top_a + (np.arange(size_a[0]) + 0.5) / size_a[0] * ch_a  # pixel centres
    col = (x - left_b) / cw_b * size_b[1] - 0.5  # B's map coordinates there
    row = (y - top_b) / ch_b * size_b[0] - 0.5
    rows, cols = np.meshgrid(row, col, indexing="ij")
    valid = (rows >= -0.5) & (rows <= size_b[0] - 0.5) & (cols >= -0.5) & (cols <= size_b[1] - 0.5)

    def sample(map_b):
        out = map_coordinates(np.asarray(map_b, np.float64), [rows, cols], order=1, mode="nearest")
        return np.where(valid, out, 0.0)

    return sample, valid


def _crop(model, width, height):
    prep = get_preprocessing(model.preprocessing.name)
    aspect = model.input_size[1] / model.input_size[0]
    return crop_box(width, height, prep.geometry, prep.default_fraction, aspect)


def _noisy(images, noise, seed):
    """The network inputs plus Gaussian noise of ``noise`` grey levels (float, seeded)."""
    rng = np.random.default_rng(seed)
    noisy = images.astype(np.float32) + rng.normal(0.0, noise, images.shape).astype(np.float32)
    return np.clip(noisy, 0.0, 255.0)


def _worse(a: MapChange, b: MapChange) -> MapChange:
    return MapChange(
        iou=min(a.iou, b.iou),
        spearman=min(a.spearman, b.spearman),
        peak_shift=max(a.peak_shift, b.peak_shift),
        centroid_shift=max(a.centroid_shift, b.centroid_shift),
    )


@dataclass(frozen=True, kw_only=True)
class PairMaps:
    """One method's maps of a batch: A's, B's carried to A's frame, A's under the floor's
    perturbation (and re-seeded, for randomised methods), the validity masks, the probabilities."""

    a: np.ndarray
    b: list
    valid: list
    floors: list  # [N x H x W maps] of each floor run
    probabilities_a: np.ndarray
    probabilities_b: np.ndarray


def explain_pair(
    model_a, model_b, photos, xa, xb, class_a, class_b, method, *, noise, seed, batch_size
) -> PairMaps:
    """Both models' maps of one batch of photos (their network inputs ``xa``/``xb``), for
    ``class_a``/``class_b``, and A's floor maps (see the module docstring)."""
    options = {"seed": seed} if "seed" in method.options else {}
    run = lambda model, x, target, **extra: explain(  # noqa: E731
        model, x, target, method.name, batch_size=batch_size, **{**options, **extra}
    )
    ea, eb = run(model_a, xa, class_a), run(model_b, xb, class_b)
    floors = [run(model_a, _noisy(xa, noise, seed), class_a).map]
    if options:
        floors.append(run(model_a, xa, class_a, seed=seed + 1).map)
    samplers = [frame_sampler(model_a, model_b, p.shape[1], p.shape[0]) for p in photos]
    return PairMaps(
        a=ea.map,
        b=[sample(m) for (sample, _), m in zip(samplers, eb.map)],
        valid=[valid for _, valid in samplers],
        floors=floors,
        probabilities_a=ea.probabilities,
        probabilities_b=eb.probabilities,
    )


def prepare_batch(model_a, model_b, paths):
    """(photos, A's network inputs, B's) of image files, each decoded once."""
    photos = [load_image(path) for path in paths]
    return (
        photos,
        np.stack([model_a.prepare(p) for p in photos]),
        np.stack([model_b.prepare(p) for p in photos]),
    )


def collect(
    model_a,
    model_b,
    items: Sequence,
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    mapping: Optional[np.ndarray] = None,
    fraction: float = TOP_FRACTION,
    noise: float = 1.0,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
) -> list:
    """``ImageDiff`` of each of ``items`` [(path, relative name, A's class index, or None for A's
    top class)], explained by both models with each method (see the module docstring)."""
    chosen = [get_method(m) for m in methods]
    mapping = np.arange(model_a.num_classes) if mapping is None else np.asarray(mapping)
    out = []
    with tqdm(total=len(items), unit="image", disable=not progress) as bar:
        for start in range(0, len(items), batch_size):
            part = items[start : start + batch_size]
            photos, xa, xb = prepare_batch(model_a, model_b, [path for path, _, _ in part])
            logits_a, logits_b = model_a.predict(xa), model_b.predict(xb)
            class_a = np.array(
                [int(logits_a[i].argmax()) if c is None else c for i, (_, _, c) in enumerate(part)]
            )
            class_b = target_in_b(model_a, mapping, class_a)
            pairs = {
                m.name: explain_pair(
                    model_a,
                    model_b,
                    photos,
                    xa,
                    xb,
                    class_a,
                    class_b,
                    m,
                    noise=noise,
                    seed=seed + start,
                    batch_size=batch_size,
                )
                for m in chosen
            }
            first = pairs[chosen[0].name]
            compared = {m: compare_pair(p, fraction) for m, p in pairs.items()}
            changes = {m: c for m, (c, _) in compared.items()}
            floors = {m: f for m, (_, f) in compared.items()}
            for i, (_, name, _) in enumerate(part):
                out.append(
                    ImageDiff(
                        path=name,
                        class_a=int(class_a[i]),
                        class_b=int(class_b[i]),
                        label=model_a.label(int(class_a[i])),
                        top1_a=model_a.label(int(logits_a[i].argmax())),
                        top1_b=model_b.label(int(logits_b[i].argmax())),
                        probability_a=float(first.probabilities_a[i, class_a[i]]),
                        probability_b=float(first.probabilities_b[i, class_b[i]]),
                        changes={m: c[i] for m, c in changes.items()},
                        floors={m: f[i] for m, f in floors.items()},
                    )
                )
            bar.update(len(part))
    return out


def _rows(figures) -> list:
    """[MapChange] from ``compare_to_many``'s {figure: [N]}."""
    n = len(figures["iou"])
    return [MapChange(**{k: float(v[i]) for k, v in figures.items()}) for i in range(n)]


def compare_pair(pair: PairMaps, fraction: float = TOP_FRACTION, grid=GRID) -> tuple:
    """([MapChange] from A's maps to B's, [MapChange] of A against its floor runs: the larger
    change of the perturbed and, for randomised methods, the re-seeded run), one pass over A."""
    valid = None
    if any(v is not None for v in pair.valid):
        valid = np.stack([np.ones(pair.a.shape[1:], bool) if v is None else v for v in pair.valid])
    change, *floors = compare_to_many(
        pair.a, [(np.stack(pair.b), valid)] + [(f, None) for f in pair.floors], fraction, grid
    )
    each = [_rows(f) for f in floors]
    return _rows(change), each[0] if len(each) == 1 else [_worse(*f) for f in zip(*each)]


def target_in_b(model_a, mapping, class_a) -> np.ndarray:
    """B's class index of each of A's classes ``class_a``; UserError for a class B lacks."""
    class_b = mapping[class_a]
    missing = np.flatnonzero(class_b < 0)
    if missing.size:
        name = model_a.label(int(class_a[missing[0]]))
        raise UserError(
            f"class {name!r} of model A has no counterpart in model B; map it with {{argument}}",
            "class_map",
        )
    return class_b
