"""What is explained: one frozen value, ``Score(kind="logit", contrast=None)``.

The explained score of a row with target class t is ``values[t] - values[contrast]`` (without the
second term when ``contrast`` is None), where ``values`` are the logits (``kind="logit"``) or the
head's probabilities (``kind="probability"``: the softmax, or each unit's sigmoid for a sigmoid
head). Every gradient a method fetches is taken of it, and perturbation methods score their
copies with ``Score.of``. In the style of tf-keras-vis's ``Score`` and pytorch-grad-cam's model
targets, but as a plain value: ``Model.fetch(..., score=)`` turns it into feeds of placeholders
built once with the graph, so one model serves every score (no per-score model view).
"""

from dataclasses import dataclass, replace
from typing import Union

import numpy as np

from gradcam.arrays import class_scores, probabilities_of
from gradcam.errors import UserError
from gradcam.labels import resolve_class

KINDS = ("logit", "probability")


@dataclass(frozen=True, kw_only=True)
class Score:
    """What a method explains of each (image, target) row.

    Attributes:
        kind: "logit" (pre-softmax) or "probability" (softmax; sigmoid for a sigmoid head).
        contrast: a class whose score is subtracted from the target's ("why the target rather
            than the contrast"): a class index once resolved (``resolve``), a name before; or
            None.
    """

    kind: str = "logit"
    contrast: Union[None, int, str] = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise UserError(
                f"unknown {{argument}} {self.kind!r}; valid scores: {', '.join(KINDS)}", "score"
            )
        if isinstance(self.contrast, np.integer):
            object.__setattr__(self, "contrast", int(self.contrast))
        if isinstance(self.contrast, bool) or not isinstance(self.contrast, (type(None), int, str)):
            raise UserError(
                f"{{argument}} must be a class name or index, got {self.contrast!r}", "contrast"
            )

    @classmethod
    def of_arguments(cls, score: Union[str, "Score"] = "logit", contrast=None) -> "Score":
        """The Score of the API's ``score=`` (a kind or a Score) and ``contrast=`` arguments."""
        if not isinstance(score, Score):
            return cls(kind=score, contrast=contrast)
        if contrast is None or contrast == score.contrast:
            return score
        if score.contrast is not None:
            raise UserError(
                f"{{argument}} {contrast!r} and the score's contrast {score.contrast!r} differ: "
                "give one",
                "contrast",
            )
        return replace(score, contrast=contrast)

    @property
    def is_default(self) -> bool:
        """True for the plain logit of the target (what every method explains by default)."""
        return self.kind == "logit" and self.contrast is None

    def resolve(self, labels) -> "Score":
        """This score with its contrast as an index of ``labels`` (a name, any synonym,
        case-insensitive, or an index, range-checked); UserError for an unknown class."""
        if self.contrast is None:
            return self
        return replace(self, contrast=resolve_class(self.contrast, labels))

    def of(self, logits, target, activation: str = "softmax") -> np.ndarray:
        """The score [N] from logits [N, C] and one target per row (or one for all), in numpy:
        for methods that score many (perturbed) copies from one forward each. ``activation``: the
        model's head ("softmax" or "sigmoid"), for ``kind="probability"``."""
        if isinstance(self.contrast, str):
            raise ValueError(f"contrast {self.contrast!r} is a name: resolve(labels) it first")
        values = (
            np.asarray(logits) if self.kind == "logit" else probabilities_of(logits, activation)
        )
        return class_scores(values, target, self.contrast)


LOGIT = Score()  # the default: the target's logit
