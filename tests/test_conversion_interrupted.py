"""An interrupted EfficientNet-Lite0 conversion leaves nothing the next run would restore, and the
next run converts cleanly (GRADCAM_CHECKPOINT_DIR points at a temporary directory).

The interruption is simulated in-process at the two places a kill can land: while TF writes the
checkpoint into the staging directory, and after the data file was moved in but before the index
(the file whose presence means "a checkpoint is here").
"""
import os

import numpy as np
import pytest

from gradcam.checkpoints import default_checkpoint
from gradcam.tf_compat import tf
from nets.nets_factory import get_network


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no handler of ours can swallow it."""


def _die_while_saving(monkeypatch):
    real_save = tf.train.Saver.save

    def save(self, sess, save_path, *args, **kwargs):
        real_save(self, sess, save_path, *args, **kwargs)  # files exist in the staging directory
        raise Killed

    monkeypatch.setattr(tf.train.Saver, "save", save)


def _die_before_index(monkeypatch):
    real_replace = os.replace

    def replace(source, target):
        if str(target).endswith(".index"):
            raise Killed
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)


def _usable_checkpoints(directory):
    return sorted(p.name for p in directory.rglob("*.index"))


def _interrupt(kill, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADCAM_CHECKPOINT_DIR", str(tmp_path))
    spec = get_network("efficientnet_lite0")
    with monkeypatch.context() as patch:
        kill(patch)
        with pytest.raises(Killed):
            default_checkpoint(spec)
    return spec


def test_killed_while_saving_leaves_no_checkpoint(tmp_path, monkeypatch):
    _interrupt(_die_while_saving, tmp_path, monkeypatch)
    assert _usable_checkpoints(tmp_path) == []
    assert [p.name for p in tmp_path.rglob(".*")] == []  # staging directory removed


def test_killed_before_index_then_clean_rerun(tmp_path, monkeypatch):
    spec = _interrupt(_die_before_index, tmp_path, monkeypatch)
    assert _usable_checkpoints(tmp_path) == []
    path = default_checkpoint(spec)  # the next run sees no checkpoint and converts again
    assert _usable_checkpoints(tmp_path) == [f"{spec.checkpoint_file}.index"]
    reader = tf.train.load_checkpoint(path)
    shapes = reader.get_variable_to_shape_map()
    assert shapes[spec.head_weights] == [1280, 1000]
    assert np.all(np.isfinite(reader.get_tensor(spec.head_weights)))
