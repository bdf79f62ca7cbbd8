"""The ``--fail-if`` gate: a small expression language over a diff's summary figures.

Grammar (whitespace is free)::

    gate       := condition ( ("," | "or") condition )*
    condition  := [ method "." ] figure operator number
    operator   := "<" | "<=" | ">" | ">="

The gate trips when ANY condition holds. ``figure`` is one of ``SUMMARY_FIGURES`` (see
``gradcam.model_diff.summary``); without ``method.`` it is the figure of the first method compared
(Grad-CAM by default), with it the named method's. Examples::

    median_iou<0.5                     the first method's median top-15% IoU fell below 0.5
    grad_cam.iou_drift>3, top1_agreement<0.9
"""

import re
from dataclasses import dataclass

from gradcam.errors import UserError

OPERATORS = {
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}
_CONDITION = re.compile(
    r"^\s*(?:(?P<method>[A-Za-z_][A-Za-z0-9_]*)\.)?(?P<figure>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?P<op><=|>=|<|>)\s*(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True, kw_only=True)
class Condition:
    method: str
    figure: str
    operator: str
    threshold: float

    def text(self) -> str:
        return f"{self.method}.{self.figure}{self.operator}{self.threshold:g}"


@dataclass(frozen=True, kw_only=True)
class Tripped:
    condition: Condition
    value: float

    def line(self) -> str:
        c = self.condition
        return (
            f"gate tripped: {c.method} {c.figure} = {self.value:.4g} ({c.operator} {c.threshold:g})"
        )


def parse_gate(text: str, methods, figures) -> list:
    """The conditions of ``text``; UserError naming the piece that is not a condition, an unknown
    method or an unknown figure."""
    pieces = [p for p in re.split(r",|\bor\b", text)]
    if not text.strip() or any(not p.strip() for p in pieces):
        raise UserError(f"{{argument}} {text!r}: expected e.g. 'median_iou<0.5'", "fail_if")
    conditions = []
    for piece in pieces:
        match = _CONDITION.match(piece)
        if not match:
            raise UserError(
                f"{{argument}}: cannot read {piece.strip()!r}: expected [method.]figure<number "
                "(operators < <= > >=), e.g. 'median_iou<0.5'",
                "fail_if",
            )
        method = match["method"] or methods[0]
        if method not in methods:
            raise UserError(
                f"{{argument}}: {method!r} is not a compared method ({', '.join(methods)})",
                "fail_if",
            )
        if match["figure"] not in figures:
            raise UserError(
                f"{{argument}}: unknown figure {match['figure']!r}; figures: {', '.join(figures)}",
                "fail_if",
            )
        conditions.append(
            Condition(
                method=method,
                figure=match["figure"],
                operator=match["op"],
                threshold=float(match["number"]),
            )
        )
    return conditions


def check_gate(conditions, summaries: dict) -> list:
    """The ``Tripped`` conditions, given {method: {figure: value}}; a figure that is None (no
    images to compute it from) never trips."""
    tripped = []
    for c in conditions:
        value = summaries[c.method][c.figure]
        if value is not None and OPERATORS[c.operator](value, c.threshold):
            tripped.append(Tripped(condition=c, value=float(value)))
    return tripped
