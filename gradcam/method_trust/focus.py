"""Class sensitivity: the Focus of Arias-Duart et al. 2022 ("Focus! Rating XAI Methods and Finding
Biases", FUZZ-IEEE).

A 2 x 2 mosaic holds two images of the target class and two of other classes, at random places;
the method explains the mosaic for the target class, and Focus is the share of the map's
positive evidence that falls on the target's two tiles. A map that follows the class it is asked
about approaches 1; a class-blind map (one that shows what is salient whatever the class) stays
near 0.5. The tiles are the images the network sees, each resized to half the side (PIL
bilinear), so the mosaic has the network's input size.

Images must carry labels (class subfolders: ``gradcam.dataset``) and at least two images of a
class and two of other classes.
"""

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from PIL import Image

from gradcam.arrays import frame_shape
from gradcam.method_trust.maps import method_maps
from gradcam.method_trust.protocol import THRESHOLDS


@dataclass(frozen=True, kw_only=True)
class Mosaic:
    """A mosaic image (H x W x 3 uint8, the network's input), its target class and which tiles show it (the 2 x 2
    tiles in reading order: top-left, top-right, bottom-left, bottom-right)."""

    image: np.ndarray
    target: int
    target_tiles: tuple
    sources: tuple  # indices of the source images, in tile order


def tile_masks(size) -> np.ndarray:
    """bool [4, H, W]: the four tiles of an H x W mosaic (``size`` = (H, W), or S), in reading
    order; the bottom row and the right column take the odd pixel."""
    height, width = frame_shape(size)
    masks = np.zeros((4, height, width), bool)
    for t in range(4):
        row, col = divmod(t, 2)
        masks[
            t,
            slice(0, height // 2) if row == 0 else slice(height // 2, height),
            slice(0, width // 2) if col == 0 else slice(width // 2, width),
        ] = True
    return masks


def make_mosaic(tiles, size) -> np.ndarray:
    """uint8 H x W x 3 from four H x W x 3 images (reading order), each resized to its tile."""
    masks = tile_masks(size)
    out = np.zeros((*frame_shape(size), 3), np.uint8)
    for tile, mask in zip(tiles, masks):
        rows, cols = np.where(mask)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        small = Image.fromarray(np.asarray(tile, np.uint8)).resize((width, height), Image.BILINEAR)
        out[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = np.asarray(small)
    return out


def make_mosaics(images, labels, count: int, seed: int = 0) -> list:
    """Up to ``count`` mosaics: targets cycle over the classes with two or more images, each
    with two images of it and two of other classes (seeded draws); empty when none can be made."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = [
        c for c in np.unique(labels) if (labels == c).sum() >= 2 and (labels != c).sum() >= 2
    ]
    mosaics = []
    for k in range(count if classes else 0):
        target = int(classes[k % len(classes)])
        own = rng.choice(np.flatnonzero(labels == target), 2, replace=False)
        other = rng.choice(np.flatnonzero(labels != target), 2, replace=False)
        places = rng.permutation(4)
        order = np.empty(4, np.int64)
        order[places[:2]], order[places[2:]] = own, other
        mosaics.append(
            Mosaic(
                image=make_mosaic([images[j] for j in order], images.shape[1:3]),
                target=target,
                target_tiles=tuple(sorted(int(p) for p in places[:2])),
                sources=tuple(int(j) for j in order),
            )
        )
    return mosaics


def focus_share(evidence, target_tiles) -> float:
    """Share of the positive evidence of an H x W map on the target's tiles (NaN for no
    evidence)."""
    positive = np.maximum(np.asarray(evidence, np.float64), 0.0)
    total = positive.sum()
    if total <= 0:
        return float("nan")
    masks = tile_masks(positive.shape)
    return float(positive[masks[list(target_tiles)].any(axis=0)].sum() / total)


def focus_verdict(score, thresholds=THRESHOLDS) -> str:
    if not np.isfinite(score):
        return "warn"
    if score >= thresholds.focus_pass:
        return "pass"
    return "warn" if score >= thresholds.focus_warn else "fail"


@dataclass(kw_only=True)
class FocusResult:
    mosaics: int = 0
    skipped: Optional[str] = None
    scores: dict = field(default_factory=dict)  # method -> per-mosaic Focus
    errors: dict = field(default_factory=dict)

    def cell(self, method) -> Optional[dict]:
        if self.skipped is not None:
            return None
        if method in self.errors:
            return {"error": self.errors[method], "verdict": None}
        values = np.asarray(self.scores[method], np.float64)
        score = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        return {"score": score, "per_mosaic": values, "verdict": focus_verdict(score)}


def focus_check(
    model, images, labels, methods, options, *, mosaics, seed=0, layer=None, batch_size=32
) -> FocusResult:
    """Focus of each method on mosaics of ``images`` (labels: one class per image, or None)."""
    if labels is None:
        return FocusResult(skipped="no labels: give DATA as class subfolders")
    made = make_mosaics(np.asarray(images), labels, mosaics, seed)
    if not made:
        return FocusResult(
            skipped="needs two images of one class and two of other classes "
            f"(got {len(labels)} images of {len(set(labels))} classes)"
        )
    maps = method_maps(
        model,
        np.stack([m.image for m in made]),
        [m.target for m in made],
        methods,
        options,
        layer=layer,
        batch_size=batch_size,
    )
    result = FocusResult(mosaics=len(made))
    for method, value in maps.items():
        if value.error is not None:
            result.errors[method] = value.error
        else:
            result.scores[method] = [
                focus_share(e, m.target_tiles) for e, m in zip(value.evidence, made)
            ]
    return result
