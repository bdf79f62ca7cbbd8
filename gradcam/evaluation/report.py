"""Small helpers shared by the reproduction scripts: output folders, JSON, method budgets."""
import json
from pathlib import Path

import numpy as np

from gradcam.visualize import atomic_write

# Cost knobs of the expensive methods: "fast" for CI, "standard" for the published results
# (sized for a shared 2-core CPU; the methods' own defaults are larger).
BUDGETS = {
    "fast": {"integrated_gradients": {"steps": 8}, "smoothgrad": {"samples": 4},
             "blur_ig": {"steps": 8}, "xrai": {"steps": 8}, "score_cam": {"max_channels": 16},
             "occlusion": {"patch": 56, "stride": 56}},
    "standard": {"integrated_gradients": {"steps": 16}, "smoothgrad": {"samples": 8},
                 "blur_ig": {"steps": 16}, "xrai": {"steps": 8}, "score_cam": {"max_channels": 32},
                 "occlusion": {"patch": 32, "stride": 32}},
}


def method_options(name, fast):
    """The budget options of ``name`` that the registered method actually takes."""
    from gradcam.methods import get_method

    accepted = set(get_method(name).options)
    wanted = BUDGETS["fast" if fast else "standard"].get(name, {})
    return {k: v for k, v in wanted.items() if k in accepted}


def split_available(names):
    """(registered, missing) among the method names, in the given order."""
    from gradcam.methods import METHODS

    return [n for n in names if n in METHODS], [n for n in names if n not in METHODS]


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
    from gradcam.model import Model

    return Model(network, checkpoint)


def add_common_arguments(parser, name):
    """--fast (CI-sized run) and --out (default results/<name>)."""
    parser.add_argument("--fast", action="store_true", help="tiny CI-sized run")
    parser.add_argument("--out", default=f"results/{name}", help="output folder")


def command_line(script, argv):
    """The command that reproduces a script's run, for its JSON and the gallery."""
    import sys

    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join([f"python scripts/{script}.py"] + args)


def save_small_figure(path, figure, dpi=60):
    """PNG of a matplotlib figure at gallery size (the shared ``save_figure`` uses 100 dpi)."""
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
