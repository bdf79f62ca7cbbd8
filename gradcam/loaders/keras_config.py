"""What a Keras model file says about itself, read without deserialising anything, and the safety
check that runs before any of it is loaded.

A Keras model file is code. A ``Lambda`` layer stores its function as marshalled Python bytecode,
and ``tf_keras.models.load_model`` on an ``.h5`` runs it while rebuilding the model (Keras 3's
``safe_mode`` refuses such bytecode, but only in ``.keras`` archives). A config entry also names
the class or function to rebuild by module and name, and ``load_model`` imports it: outside the
``keras`` packages that is whatever code the process can import or has registered (custom objects).

``read_keras_file`` reads the model's JSON config (the ``model_config`` attribute of an ``.h5``
through h5py, ``config.json`` of a ``.keras`` zip) and ``check_trusted`` refuses, unless the
caller trusts the file, every entry that would run code of the file or outside Keras:
- a ``Lambda`` layer (or any ``__lambda__`` / ``function_type: lambda`` function);
- an object whose ``module`` is not in an allow-listed library (custom layers, custom activation
  functions ``{"class_name": "function"}``), or, in older configs without ``module``, a class name
  that is not a built-in tf-keras name (``"mine>Twice"``, ``"MyLayer"``). The allow-list
  (``LIBRARIES``): ``keras`` and ``tf_keras`` themselves, and ``keras_hub`` and ``keras_cv`` when
  they are installed (a keras-hub ``ViTImageClassifier`` names its classes by module
  ``keras_hub.src.models...``). Importing an installed library runs that library's code, never
  code of the file; a function entry of keras-hub or keras-cv must be one the library registered
  (``registered_name`` ``keras_hub>name``), not any attribute of one of its modules;
- a ``TFOpLambda`` (tf-keras' layer for a ``tf.*`` call in a functional model) calling a function
  that does input/output or runs Python (``tf.io.*``, ``tf.py_function``, ``tf.print``, ...).
Everything else is data that Keras' own classes read. So our check is stricter than ``safe_mode``
(which we pass as well): it covers ``.h5`` files and custom objects, and it refuses before
``load_model`` is called, so nothing of a refused file runs.
"""

import importlib.util
import json
import zipfile
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from gradcam.errors import UserError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
TRUST_HINT = "pass --trust-model-code (API: trust_code=True) only if you trust the file"
# Functions a TFOpLambda may name that read or write files or run Python.
UNSAFE_TF_FUNCTIONS = (
    "py_function",
    "numpy_function",
    "compat.v1.py_func",
    "print",
    "compat.v1.Print",
    "io.",
    "compat.v1.io.",
    "debugging.",
    "summary.",
    "compat.v1.summary.",
    "saved_model.",
    "data.",
)
# Libraries whose classes a config may name without trust (see the module docstring); keras and
# tf_keras are what loads the file, the others count only when installed.
LIBRARIES = ("keras", "tf_keras", "keras_hub", "keras_cv")
_CORE = ("keras", "tf_keras")


@dataclass(frozen=True)
class KerasFile:
    """A Keras model file as saved: ``kind`` "h5" or "keras", the Keras ``version`` that wrote
    it ("2.21.0", "3.15.1"; "2" when the file does not say) and its model ``config``."""

    path: Path
    kind: str
    version: str
    config: dict

    @property
    def keras3(self) -> bool:
        return not self.version.startswith("2")


def file_signature(path) -> bytes:
    """The first 8 bytes of a file (b"" when empty)."""
    with open(path, "rb") as handle:
        return handle.read(8)


def read_keras_file(path) -> KerasFile:
    """The config of an HDF5 (.h5) or zip (.keras) Keras model file, read as data.

    Raises:
        UserError: a truncated or corrupt file, a weights-only file, a config that is not JSON.
    """
    path = Path(path)
    head = file_signature(path)
    if head.startswith(HDF5_SIGNATURE):
        return _read_h5(path)
    if head.startswith(ZIP_SIGNATURE):
        return _read_keras_zip(path)
    raise UserError(f"{path} is neither an HDF5 (.h5) nor a zip (.keras) Keras model file")


def _read_h5(path):
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            attributes = dict(handle.attrs)
    except OSError:
        raise UserError(f"{path} is not a readable HDF5 file (truncated or corrupt)") from None
    if "model_config" not in attributes:
        raise UserError(
            f"{path} holds no model config (a weights-only file?); save the whole "
            "model with model.save(...)"
        )
    return KerasFile(
        path,
        "h5",
        _text(attributes.get("keras_version", "2")),
        _json(_text(attributes["model_config"]), path),
    )


def _read_keras_zip(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise UserError(f"{path} has no config.json: not a Keras model archive")
            config = archive.read("config.json").decode("utf-8", "replace")
            metadata = archive.read("metadata.json") if "metadata.json" in names else b"{}"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError):
        raise UserError(
            f"{path} is not a readable .keras archive (truncated or corrupt zip)"
        ) from None
    version = _json(metadata.decode("utf-8", "replace"), path).get("keras_version", "3")
    return KerasFile(path, "keras", str(version), _json(config, path))


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _json(text, path):
    try:
        value = json.loads(text)
    except ValueError:
        raise UserError(f"{path}: its model config is not valid JSON (corrupt file)") from None
    if not isinstance(value, dict):
        raise UserError(f"{path}: its model config is not a JSON object (corrupt file)")
    return value


def code_objects(config: dict) -> list:
    """Descriptions of the entries of a Keras config that would run code of the file or from
    outside Keras when loaded ("Lambda layer 'lam'", ...), in config order."""
    found = []
    _walk(config, None, found)
    return found


def _walk(value, owner, found):
    if isinstance(value, list):
        for item in value:
            _walk(item, owner, found)
        return
    if not isinstance(value, dict):
        return
    if "class_name" in value:
        inner = value.get("config")
        name = (inner.get("name") if isinstance(inner, dict) else None) or value.get("name")
        owner = name if isinstance(name, str) else owner
        reason = _code_reason(value)
        if reason:
            found.append(
                reason if f"{owner!r}" in reason or not owner else f"{reason} in layer {owner!r}"
            )
            return
    for item in value.values():
        _walk(item, owner, found)


def _code_reason(entry):
    """Why one config entry ({"class_name", "config", ...}) runs code, or None."""
    class_name = str(entry.get("class_name"))
    inner = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    name = inner.get("name", entry.get("name"))
    if class_name in ("Lambda", "__lambda__") or inner.get("function_type") == "lambda":
        return (
            f"layer {name!r} is a Lambda layer (stored Python bytecode)"
            if name
            else "a Lambda function (stored Python bytecode)"
        )
    if class_name == "TFOpLambda":
        function = str(inner.get("function", ""))
        if function.startswith(UNSAFE_TF_FUNCTIONS):
            return f"layer {name!r} calls tf.{function}"
        return None
    if class_name.startswith("__"):  # Keras 3 data markers: __keras_tensor__, __tensor__, ...
        return None
    if "module" in entry:
        module = entry.get("module")
        if _allowed(module, class_name, entry.get("registered_name")):
            return None
        if class_name == "function":
            return f"custom function {entry.get('config')!r}"
        shown = entry.get("registered_name") or class_name
        note = "" if not module else f" (module {module}{_not_installed(module)})"
        return f"custom object {shown!r}{note}"
    if ">" in class_name or class_name not in _builtin_names():
        return f"custom object {class_name!r}"
    return None


def _library(module):
    """The allow-listed library ``module`` belongs to ("keras_hub" of "keras_hub.src.models"), or
    None."""
    top = module.split(".")[0] if isinstance(module, str) else None
    return top if top in LIBRARIES else None


@cache
def _installed(library):
    return library in _CORE or importlib.util.find_spec(library) is not None


def _not_installed(module):
    library = _library(module)
    return f", {library} is not installed" if library and not _installed(library) else ""


def _allowed(module, class_name, registered_name):
    """True when a config entry names a class (or registered function) of an installed
    allow-listed library."""
    library = _library(module)
    if library is None or not _installed(library):
        return False
    if library in _CORE or class_name != "function":
        return True
    return isinstance(registered_name, str) and registered_name.startswith(f"{library}>")


@lru_cache(maxsize=1)
def _builtin_names():
    """Class names tf-keras rebuilds from a config without a ``module`` (older .h5 files)."""
    import tf_keras

    names = {"Functional", "Sequential", "Model", "TFOpLambda", "SlicingOpLambda"}
    for module in (
        tf_keras.layers,
        tf_keras.initializers,
        tf_keras.regularizers,
        tf_keras.constraints,
    ):
        names.update(n for n in dir(module) if n[:1].isupper())
    return frozenset(names)


def check_trusted(keras_file: KerasFile, trust_code: bool):
    """UserError naming the first entry that would run code, unless ``trust_code``.

    Raises:
        UserError: "<file>: layer 'lam' is a Lambda layer (stored Python bytecode); pass ..."
    """
    if trust_code:
        return
    found = code_objects(keras_file.config)
    if found:
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        raise UserError(
            f"{keras_file.path.name}: {found[0]}{more}; refused without running it: {TRUST_HINT}"
        )
