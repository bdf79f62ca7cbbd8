"""Where checkpoints live and how they are restored, with errors that say what to do."""
import os
from pathlib import Path

from gradcam.errors import UserError
from gradcam.tf_compat import tf

REPO_ROOT = Path(__file__).resolve().parent.parent


def checkpoint_dir():
    """checkpoints/ of the repo, or $GRADCAM_CHECKPOINT_DIR."""
    return Path(os.environ.get("GRADCAM_CHECKPOINT_DIR", REPO_ROOT / "checkpoints"))


def default_checkpoint(spec):
    """Checkpoint prefix of a registered network, converting local weights on first use."""
    if not spec.checkpoint_file:
        raise UserError(f"{spec.name} has no default checkpoint: pass --checkpoint")
    path = checkpoint_dir() / spec.name / spec.checkpoint_file
    if not Path(str(path) + ".index").exists() and not path.exists():
        if spec.convert is None:
            raise UserError(f"no checkpoint for {spec.name} at {path}: run "
                            f"'python scripts/download_checkpoints.py {spec.name}' or pass --checkpoint")
        spec.convert(path)
    return str(path)


def _checkpoint_shapes(path):
    try:
        return tf.train.load_checkpoint(path).get_variable_to_shape_map()
    except Exception as exc:  # TF raises several types for unreadable files
        if not (Path(path + ".index").exists() or Path(path).exists()):
            raise UserError(f"checkpoint not found: {path}") from None
        raise UserError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from None


def restore(model, path):
    """Restore every model variable from ``path``, naming the first mismatches if any."""
    path = str(path)
    if Path(path).is_dir():
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise UserError(f"no checkpoint found in directory {path}")
        path = latest
    shapes = _checkpoint_shapes(path)
    with model.graph.as_default():
        variables = tf.global_variables()
        missing = [v.op.name for v in variables if v.op.name not in shapes]
        if missing:
            raise UserError(f"checkpoint {path} does not fit {model.spec.name}: {len(missing)} of "
                            f"{len(variables)} variables missing, first: {', '.join(missing[:3])}")
        wrong = [f"{v.op.name} {shapes[v.op.name]} (model wants {v.shape.as_list()})"
                 for v in variables if list(shapes[v.op.name]) != v.shape.as_list()]
        if wrong:
            raise UserError(f"checkpoint {path} has wrong shapes for {model.spec.name} "
                            f"(--num-classes?): {'; '.join(wrong[:2])}")
        try:
            tf.train.Saver(variables).restore(model.session, path)
        except Exception as exc:
            raise UserError(f"cannot restore {path}: {str(exc).splitlines()[0]}") from None
