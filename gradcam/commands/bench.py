"""Benchmarks of the source checkout (benchmarks/run.py): limits, methods, PAIR, batch memory."""
import sys
from pathlib import Path

from gradcam.errors import UserError

NAME = "bench"
HELP = "time every method against the forward/backward limit (writes results/benchmarks/)"
ROOT = Path(__file__).resolve().parents[2]


def _benchmarks():
    if not (ROOT / "benchmarks" / "run.py").is_file():
        raise UserError(f"gradcam bench needs the source checkout's benchmarks/ (not found under {ROOT})")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks import run

    return run


def add_arguments(parser):
    """Options of ``gradcam bench`` and ``python benchmarks/run.py`` alike."""
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny repeats and sizes")
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks"),
                        help="directory for benchmark.json and README.md")
    parser.add_argument("--no-pair", action="store_true", help="skip the PAIR saliency comparison")
    parser.add_argument("--no-sessions", action="store_true",
                        help="skip the thread/XLA settings and the guided-switch measurement")
    parser.add_argument("--no-batch", action="store_true", help="skip gradcam batch throughput/memory")
    parser.add_argument("--threads", type=int, help="intra-op threads of the model's session")


def run(args):
    return _benchmarks().run(args)
