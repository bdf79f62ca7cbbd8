"""What ``gradcam trust`` measures and how it decides: the budgets and the verdict thresholds, as
data that the card records (``trust.json`` "protocol").

The thresholds are this project's choices, not the papers': the papers report numbers, not
verdicts. They are stated once here, printed on the card and in docs/trust.md.
"""

from dataclasses import asdict, dataclass
from typing import Optional

from gradcam.errors import UserError

VERDICTS = ("pass", "warn", "fail")


@dataclass(frozen=True, kw_only=True)
class Budget:
    """How much work each check does.

    Attributes:
        name: "quick", "paper" or a caller's own.
        max_images: images used at most (the first ones in data order, taken class by class
            in turn when the images have labels); None = all.
        options: the method options used: "smoke" or "budget" (the registry's reduced settings,
            ``gradcam.methods.registry``) or "paper" (each method's defaults, the papers').
        randomization_images: images explained at each randomised depth (the first ones).
        randomization_depths: depths measured in the cascade (spread evenly, the last one the
            fully randomised model); None = every layer group, as in Adebayo et al.
        srg_steps: removal steps of each SRG curve (equal fractions of the pixels).
        faithfulness_images: images of the SRG check (the first ones).
        focus_mosaics: 2 x 2 mosaics of the Focus check.
    """

    name: str
    max_images: Optional[int]
    options: str
    randomization_images: Optional[int]
    randomization_depths: Optional[int]
    srg_steps: int
    faithfulness_images: Optional[int]
    focus_mosaics: int

    def as_dict(self) -> dict:
        return asdict(self)


BUDGETS = {
    "quick": Budget(
        name="quick",
        max_images=16,
        options="budget",
        randomization_images=8,
        randomization_depths=3,
        srg_steps=6,
        faithfulness_images=8,
        focus_mosaics=4,
    ),
    "paper": Budget(
        name="paper",
        max_images=None,
        options="paper",
        randomization_images=None,
        randomization_depths=None,
        srg_steps=32,
        faithfulness_images=None,
        focus_mosaics=50,
    ),
}


def get_budget(budget) -> Budget:
    """A ``Budget``, or the one of a name in ``BUDGETS``."""
    if isinstance(budget, Budget):
        return budget
    if budget not in BUDGETS:
        raise UserError(
            f"unknown {{argument}} {budget!r}; valid budgets: {', '.join(BUDGETS)}", "budget"
        )
    return BUDGETS[budget]


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """The verdict rules (see docs/trust.md "The verdict rules").

    Attributes:
        similarity_fail: randomisation fails when the map keeps at least this Spearman rank
            correlation (of |map|) with the trained model's, on average over the measured depths
            of the cascade or at the fully randomised model.
        similarity_warn: ... warns when the average is at or above this.
        faithfulness_margin: one SRG must exceed another by more than this (and by two standard
            errors of the per-image differences) to count as clearly above it.
        focus_pass: Focus at or above this passes (0.5 is what a class-blind map gets).
        focus_warn: Focus at or above this (and below ``focus_pass``) warns; below, fails.
        agreement_warn: a method whose best rank correlation with any other method is below
            this is flagged as disagreeing with all others.
        blur_sigma: the blurred control's Gaussian sigma as a fraction of the image side.
    """

    similarity_fail: float = 0.5
    similarity_warn: float = 0.25
    faithfulness_margin: float = 0.01
    focus_pass: float = 0.65
    focus_warn: float = 0.55
    agreement_warn: float = 0.2
    blur_sigma: float = 0.125

    def as_dict(self) -> dict:
        return asdict(self)


THRESHOLDS = Thresholds()


def worst(verdicts) -> Optional[str]:
    """The worst of some verdicts (fail > warn > pass), None for none."""
    given = [v for v in verdicts if v is not None]
    return max(given, key=VERDICTS.index) if given else None
