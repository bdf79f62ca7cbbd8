"""Where checkpoints live and how they are restored, with errors that say what to do.

Converted weights and downloaded checkpoints go under one home folder, ``<home>/<network>/``:
``$GRADCAM_HOME`` when set; else the ``checkpoints/`` folder of a source checkout when gradcam
runs from one; else ``~/.cache/gradcam`` (``$XDG_CACHE_HOME/gradcam``). Nothing is ever written
next to an installed package.
"""

import os
from pathlib import Path

from gradcam.errors import UserError
from gradcam.weights.lite0 import convert_lite0_checkpoint
from nets.tf_compat import tf

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent
# Networks whose default checkpoint is made here from an installed package: name -> convert(path).
CONVERTERS = {"efficientnet_lite0": convert_lite0_checkpoint}


def _source_checkout():
    """The source checkout gradcam runs from, or None when it is an installed package."""
    root = _PACKAGE_PARENT
    if "site-packages" in root.parts or "dist-packages" in root.parts:
        return None
    return root if (root / "pyproject.toml").is_file() and (root / "checkpoints").is_dir() else None


def checkpoint_dir():
    """The folder holding ``<network>/`` checkpoints (see the module docstring)."""
    if os.environ.get("GRADCAM_HOME"):
        return Path(os.environ["GRADCAM_HOME"])
    checkout = _source_checkout()
    if checkout is not None:
        return checkout / "checkpoints"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "gradcam"


def default_checkpoint(spec):
    """Checkpoint prefix of a registered network, converting local weights on first use."""
    if not spec.checkpoint_file:
        raise UserError(f"{spec.name} has no default checkpoint: pass {{argument}}", "checkpoint")
    path = checkpoint_dir() / spec.name / spec.checkpoint_file
    if not Path(str(path) + ".index").exists() and not path.exists():
        if spec.name not in CONVERTERS:
            source = (
                f"run 'gradcam download {spec.name}' (fetches {spec.download_url})"
                if spec.download_url
                else "train or convert one"
            )
            raise UserError(
                f"no checkpoint for {spec.name} at {path}: {source} or pass {{argument}}",
                "checkpoint",
            )
        CONVERTERS[spec.name](path)
    return str(path)


def find_checkpoint(path, spec):
    """Checkpoint prefix to restore (``path``, the newest in a directory, or the network's own),
    checked to exist with a readable index: cheap, so it runs before the graph is built."""
    path = latest(path if path is not None else default_checkpoint(spec))
    checkpoint_shapes(path)
    return path


def checkpoint_shapes(path):
    """{variable name: shape} of a checkpoint; UserError when it is missing or unreadable."""
    try:
        return tf.train.load_checkpoint(path).get_variable_to_shape_map()
    except Exception as exc:  # TF raises several types for unreadable files
        if not (Path(path + ".index").exists() or Path(path).exists()):
            raise UserError(
                f"checkpoint not found: {path} (give the prefix, e.g. model.ckpt for "
                "model.ckpt.index + model.ckpt.data-*)"
            ) from None
        raise UserError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from None


def latest(path):
    """A checkpoint prefix from a prefix or a directory (its latest checkpoint)."""
    path = str(path)
    if Path(path).is_dir():
        found = tf.train.latest_checkpoint(path)
        if found is None:
            raise UserError(f"no checkpoint found in directory {path}")
        return found
    return path


def _class_hint(variables, shapes):
    """' : pass --num-classes C' when only the class axis of the head disagrees."""
    classes = {
        shapes[v.op.name][-1]
        for v in variables
        if list(shapes[v.op.name][:-1]) == v.shape.as_list()[:-1]
    }
    return (
        f"; the checkpoint has {classes.pop()} classes: pass {{argument}} with that number"
        if len(classes) == 1
        else " ({argument}?)"
    )


def restore_variables(session, graph, path, name):
    """Restore every global variable of ``graph`` from ``path``, naming the first mismatches."""
    path = latest(path)
    shapes = checkpoint_shapes(path)
    with graph.as_default():
        variables = tf.global_variables()
        missing = [v.op.name for v in variables if v.op.name not in shapes]
        if missing:
            raise UserError(
                f"checkpoint {path} does not fit {name}: {len(missing)} of "
                f"{len(variables)} variables missing, first: {', '.join(missing[:3])}"
            )
        wrong = [v for v in variables if list(shapes[v.op.name]) != v.shape.as_list()]
        if wrong:
            described = [
                f"{v.op.name} {shapes[v.op.name]} (model wants {v.shape.as_list()})"
                for v in wrong[:2]
            ]
            raise UserError(
                f"checkpoint {path} has wrong shapes for {name}: "
                f"{'; '.join(described)}{_class_hint(wrong, shapes)}",
                "num_classes",
            )
        try:
            tf.train.Saver(variables).restore(session, path)
        except tf.errors.OpError as exc:
            raise UserError(
                f"cannot restore {path}: damaged or truncated checkpoint data "
                f"({type(exc).__name__}: {_tf_reason(exc)})"
            ) from None


def _tf_reason(exc):
    """The informative line of a TF error (its message starts with a generic 'Graph execution')."""
    lines = [line.strip() for line in str(exc.message).splitlines() if line.strip()]
    useful = [
        line for line in lines if not line.startswith(("Graph execution error", "Detected at"))
    ]
    return (useful or lines or ["unknown"])[0][:200]
