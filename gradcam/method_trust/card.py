"""The verdict card: ``TrustCard`` (what ``gradcam.method_trust`` returns), its printed lines, and the
static report TRUST/trust.html (opens from disk; one row per method, one column per check, a
pass / warn / fail cell with its number, a sample map per method) with its JSON twin
TRUST/trust.json::

    {"methods": {name: {"randomization": {"similarity", "emprt", "verdict", ...},
                        "faithfulness": {"score", "random_control", "blurred_control",
                                         "verdict", ...},
                        "focus": {"score", "verdict", ...} or null,
                        "localization": {...} or null,
                        "agreement": {...} or null,
                        "error": null or why the method cannot run,
                        "verdict": v}},
     "protocol": {...}, "seed": n, "images": n, "skipped": {check: reason}}

with v in pass / warn / fail. A check that could not run for a method has ``{"error": reason,
"verdict": null}`` in its cell; a check that did not run at all is null, its reason in
"skipped".
"""

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from gradcam.evaluation.report import write_json, write_text
from gradcam.method_trust.protocol import worst
from gradcam.visualize import new_figure, overlay, save_figure, save_png

CHECKS = ("randomization", "faithfulness", "focus", "localization", "agreement")
TITLES = {
    "randomization": "Randomisation (Adebayo 2018)",
    "faithfulness": "Faithfulness (SRG vs controls)",
    "focus": "Focus (class sensitivity)",
    "localization": "Localisation (boxes)",
    "agreement": "Agreement",
}
COLOURS = {"pass": "#cfe8cf", "warn": "#f6e3b4", "fail": "#f2c4c4", None: "#e6e6e6"}


def method_verdict(cells: dict, error: Optional[str]) -> str:
    """fail when the method cannot run or a check fails; warn when a check warns or one of the
    two required checks (randomisation, faithfulness) could not be made; else pass."""
    if error is not None:
        return "fail"
    verdict = worst(c["verdict"] for c in cells.values() if c is not None) or "warn"
    unchecked = any(
        cells.get(k) is None or cells[k]["verdict"] is None
        for k in ("randomization", "faithfulness")
    )
    return worst([verdict, "warn"]) if unchecked else verdict


@dataclass(kw_only=True)
class MethodCard:
    cells: dict
    error: Optional[str] = None
    sample: Optional[np.ndarray] = None  # overlay of the first image (uint8 H x W x 3)

    @property
    def verdict(self) -> str:
        return method_verdict(self.cells, self.error)

    def as_dict(self) -> dict:
        return {
            **{k: self.cells.get(k) for k in CHECKS},
            "error": self.error,
            "verdict": self.verdict,
        }


def _number(value, digits=2) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _randomization_words(cell):
    similarity = _number(cell["similarity"])
    return {
        "pass": f"passes randomisation (similarity {similarity})",
        "warn": f"partly survives randomisation (similarity {similarity})",
        "fail": f"fails randomisation: its map survives it (similarity {similarity})",
    }[cell["verdict"]]


def _faithfulness_words(cell):
    numbers = (
        f"SRG {_number(cell['score'])} vs controls {_number(cell['random_control'])} / "
        f"{_number(cell['blurred_control'])}"
    )
    return {
        "pass": f"faithful ({numbers})",
        "warn": f"no better than its own blurred map ({numbers})",
        "fail": f"not faithful: no better than a random map ({numbers})",
    }[cell["verdict"]]


def _words(check, cell) -> Optional[str]:
    if cell is None:
        return None
    if cell.get("verdict") is None:
        return f"{check} not checked ({cell.get('error')})"
    if check == "randomization":
        return _randomization_words(cell)
    if check == "faithfulness":
        return _faithfulness_words(cell)
    if check == "focus":
        blind = ", class-blind" if cell["verdict"] == "fail" else ""
        return f"focus {_number(cell['score'])}{blind}"
    if check == "localization":
        centre = cell["centre_control"]["pointing_game_accuracy"]
        return f"pointing {_number(cell['pointing_game_accuracy'])} vs centre {_number(centre)}"
    if cell["disagrees_with_all"]:
        return f"disagrees with all others (best {_number(cell['best'])})"
    return None


def _cell_text(check, cell) -> tuple:
    """(number, detail) shown in a card cell."""
    if cell is None:
        return "", "not run"
    if cell.get("verdict") is None:
        return "", cell.get("error", "")
    if check == "randomization":
        return _number(cell["similarity"]), (
            f"mean Spearman over the cascade; fully randomised: Spearman "
            f"{_number(cell['final_similarity'])}, SSIM {_number(cell['ssim'])}, HOG "
            f"{_number(cell['hog'])}; eMPRT {_number(cell['emprt'])}"
        )
    if check == "faithfulness":
        return _number(cell["score"]), (
            f"SRG; random map {_number(cell['random_control'])}, blurred map "
            f"{_number(cell['blurred_control'])}"
        )
    if check == "focus":
        return _number(cell["score"]), "share on the target's tiles (0.5 = class-blind)"
    if check == "localization":
        centre = cell["centre_control"]
        return _number(cell["pointing_game_accuracy"]), (
            f"pointing game; GT-known loc. {_number(cell['gt_known_loc_accuracy'])}; centre map "
            f"{_number(centre['pointing_game_accuracy'])} / "
            f"{_number(centre['gt_known_loc_accuracy'])}"
        )
    return _number(cell["best"]), f"best rank correlation (with {cell['closest']})"


@dataclass(kw_only=True)
class TrustCard:
    """What ``gradcam.method_trust`` found: one ``MethodCard`` per method, the protocol and the data."""

    methods: dict
    protocol: dict
    seed: int
    images: int
    skipped: dict = field(default_factory=dict)
    agreement: dict = field(default_factory=dict)
    randomization_curves: dict = field(default_factory=dict)
    randomization_steps: list = field(default_factory=list)

    def verdict(self, method: str) -> str:
        return self.methods[method].verdict

    def as_dict(self) -> dict:
        return {
            "methods": {name: card.as_dict() for name, card in self.methods.items()},
            "protocol": self.protocol,
            "seed": self.seed,
            "images": self.images,
            "skipped": self.skipped,
            "agreement_matrix": self.agreement,
        }

    def lines(self) -> list:
        """One plain-words line per method, e.g. "grad_cam: passes randomisation (similarity
        0.08), faithful (SRG 0.31 vs controls 0.02 / 0.12), focus 0.71 -> pass"."""
        out = []
        for name, card in self.methods.items():
            if card.error is not None:
                out.append(f"{name}: cannot run on this model ({card.error}) -> fail")
                continue
            words = [w for k in CHECKS if (w := _words(k, card.cells.get(k))) is not None]
            out.append(f"{name}: {', '.join(words)} -> {card.verdict}")
        out += [f"{check}: skipped, {reason}" for check, reason in self.skipped.items()]
        return out

    def save(self, out) -> Path:
        """Write TRUST/trust.html, trust.json, maps/<method>.png and randomization.png; returns
        the page's path. Each file is written whole or not at all; trust.json comes last."""
        out = Path(out)
        (out / "maps").mkdir(parents=True, exist_ok=True)
        for name, card in self.methods.items():
            if card.sample is not None:
                save_png(out / "maps" / f"{name}.png", card.sample)
        figure = self._randomization_figure()
        if figure is not None:
            save_figure(out / "randomization.png", figure)
        write_text(out / "trust.html", self.html(figure is not None))
        write_json(out / "trust.json", self.as_dict())
        return out / "trust.html"

    def _randomization_figure(self):
        if not self.randomization_curves:
            return None
        figure, axes = new_figure(1, 1, 6.0, 3.4)
        ax = axes[0, 0]
        steps = ["trained"] + list(self.randomization_steps)
        for name, curve in self.randomization_curves.items():
            ax.plot(
                range(len(steps)),
                [1.0] + [c["spearman"] for c in curve],
                marker="o",
                ms=3,
                label=name,
            )
        ax.set_xticks(range(len(steps)))
        ax.set_xticklabels(steps, rotation=60, fontsize=7, ha="right")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylabel("Spearman |map| vs trained", fontsize=8)
        ax.set_xlabel("randomised from the output down to layer", fontsize=8)
        ax.legend(fontsize=7, ncol=2)
        figure.tight_layout()
        return figure

    def html(self, with_figure=True) -> str:
        checks = [k for k in CHECKS if any(c.cells.get(k) for c in self.methods.values())]
        head = "".join(f"<th>{html.escape(TITLES[k])}</th>" for k in checks)
        rows = []
        for name, card in self.methods.items():
            verdict = card.verdict
            picture = (
                f'<img src="maps/{html.escape(name)}.png" alt="{html.escape(name)} map">'
                if card.sample is not None
                else ""
            )
            cells = []
            for check in checks:
                cell = card.cells.get(check)
                v = None if cell is None else cell.get("verdict")
                number, detail = _cell_text(check, cell)
                label = v or ("error" if cell else "")
                cells.append(
                    f'<td style="background:{COLOURS[v]}"><b>{label}</b> {number}'
                    f"<br><small>{html.escape(str(detail))}</small></td>"
                )
            error = f"<br><small>{html.escape(card.error)}</small>" if card.error else ""
            rows.append(
                f"<tr><th>{html.escape(name)}{error}</th><td>{picture}</td>{''.join(cells)}"
                f'<td style="background:{COLOURS[verdict]}"><b>{verdict}</b></td></tr>'
            )
        skipped = "".join(
            f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in self.skipped.items()
        )
        protocol = html.escape(_protocol_text(self.protocol))
        figure = (
            '<h2>Randomisation curves</h2><img src="randomization.png" alt="randomisation">'
            if with_figure
            else ""
        )
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Which method can I trust?</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #999; padding: 4px 6px; vertical-align: top; font-size: 13px; }}
td img {{ width: 112px; height: 112px; }}
small {{ color: #333; }}
pre {{ font-size: 11px; }}
</style></head><body>
<h1>Which method can I trust?</h1>
<p>Model <b>{html.escape(str(self.protocol.get("model")))}</b>, {self.images} images, budget
{html.escape(str(self.protocol.get("budget", {}).get("name")))}, seed {self.seed}.
pass / warn / fail per check; a method passes when no check fails or warns.</p>
<table id="card"><tr><th>method</th><th>sample map</th>{head}<th>verdict</th></tr>
{"".join(rows)}
</table>
{f"<h2>Skipped checks</h2><ul>{skipped}</ul>" if skipped else ""}
{figure}
<h2>Protocol</h2><pre>{protocol}</pre>
<p>No single ranking of explanation methods holds across models, data and metrics (LATEC,
NeurIPS 2024; MetaQuantus 2023): this card measured these methods on this model and these images
only. See docs/trust.md for the checks and the verdict rules.</p>
</body></html>
"""


def _protocol_text(protocol) -> str:
    return json.dumps(protocol, indent=1, default=str)


def sample_overlay(image, saliency) -> np.ndarray:
    """The card's sample picture: the display map drawn over the image."""
    return overlay(np.asarray(image, np.uint8), saliency, "heatmap", 0.5)
