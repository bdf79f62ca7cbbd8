"""Loading the scripts of scripts/ as modules, so tests call their ``main(argv, model=...)`` in
process (a helper module, not a test module: test modules import it, never each other)."""

import importlib.util
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def script(name):
    """scripts/<name>.py as a fresh module (scripts/ on sys.path, as when run from a shell, so
    their shared ``_common`` imports)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
