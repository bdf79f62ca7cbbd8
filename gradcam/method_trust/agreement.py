"""Agreement between methods: the Spearman rank correlation of their evidence maps on the same
images (mean over images), as a method x method matrix. Explanation methods often disagree
(Krishna et al. 2022, "The Disagreement Problem in Explainable Machine Learning"); agreement is
not correctness, so a method is only flagged (warn) when it disagrees with every other one: its
best correlation with any other method is below ``Thresholds.agreement_warn``.

Maps are compared at a quarter of the input side (mean over 4 x 4 blocks, ``BLOCK``): ranks of
single pixels of a pixel method are mostly noise, and the CAM family's maps are coarser still.
"""

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import skimage.measure

from gradcam.evaluation.similarity import spearman
from gradcam.method_trust.protocol import THRESHOLDS

BLOCK = 4


def pooled(saliency) -> np.ndarray:
    return skimage.measure.block_reduce(np.asarray(saliency, np.float64), (BLOCK, BLOCK), np.mean)


def agreement_matrix(maps: dict) -> dict:
    """{a: {b: mean Spearman of a's and b's maps}} for the methods of ``maps`` ({method: [N, S,
    S] evidence})."""
    small = {m: [pooled(x) for x in v] for m, v in maps.items()}
    names = list(maps)
    matrix = {a: {a: 1.0} for a in names}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            values = [spearman(x, y, absolute=False) for x, y in zip(small[a], small[b])]
            finite = [v for v in values if np.isfinite(v)]
            matrix[a][b] = matrix[b][a] = float(np.mean(finite)) if finite else float("nan")
    return matrix


@dataclass(kw_only=True)
class AgreementResult:
    matrix: dict = field(default_factory=dict)
    skipped: Optional[str] = None

    def cell(self, method) -> Optional[dict]:
        if self.skipped is not None or method not in self.matrix:
            return None
        others = {b: v for b, v in self.matrix[method].items() if b != method}
        finite = [v for v in others.values() if np.isfinite(v)]
        best = max(finite) if finite else float("nan")
        closest = max(others, key=lambda b: others[b] if np.isfinite(others[b]) else -2.0)
        disagrees = not finite or best < THRESHOLDS.agreement_warn
        return {
            "best": best,
            "closest": closest,
            "mean": float(np.mean(finite)) if finite else float("nan"),
            "disagrees_with_all": disagrees,
            "verdict": "warn" if disagrees else "pass",
        }


def agreement_check(maps: dict) -> AgreementResult:
    """Agreement of the methods that ran ({method: MethodMaps})."""
    ran = {m: v.evidence for m, v in maps.items() if v.error is None}
    if len(ran) < 2:
        return AgreementResult(skipped=f"needs two methods that run, got {len(ran)}")
    return AgreementResult(matrix=agreement_matrix(ran))
