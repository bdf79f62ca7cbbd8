"""Helpers shared by the reproduction scripts (not part of the package): output folders, the
common --fast/--out flags, the command line that reproduces a run, method budgets, model loading
and gallery-size figures."""

import sys
from pathlib import Path

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
