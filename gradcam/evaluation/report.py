"""Small helpers shared by the reproduction scripts: output folders, JSON, method budgets."""

import json
import sys
from pathlib import Path

import numpy as np

from gradcam.methods import get_method
from gradcam.model import Model
from gradcam.visualize import atomic_write


def method_options(name, fast):
    """The registered method's options for a run: its ``smoke`` options for a --fast (CI) run, its
    ``budget`` (sized for a 2-core CPU) for the published results."""
    method = get_method(name)
    return dict(method.smoke if fast else method.budget)


def output_dir(path):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path, data):
    """JSON with numpy values converted and NaN written as null; atomic."""
    text = json.dumps(_plain(data), indent=2)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def write_text(path, text):
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def load_model(network, checkpoint=None):
    return Model(network, checkpoint)


def add_common_arguments(parser, name):
    """--fast (CI-sized run) and --out (default results/<name>)."""
    parser.add_argument("--fast", action="store_true", help="tiny CI-sized run")
    parser.add_argument("--out", default=f"results/{name}", help="output folder")


def command_line(script, argv):
    """The command that reproduces a script's run, for its JSON and the gallery."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join([f"python scripts/{script}.py"] + args)


def save_small_figure(path, figure, dpi=60):
    """PNG of a matplotlib figure at gallery size (the shared ``save_figure`` uses 100 dpi)."""
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
