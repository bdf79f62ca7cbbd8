"""An interrupted EfficientNet-Lite0 conversion leaves nothing the next run would restore, and the
next run converts cleanly (GRADCAM_HOME points at a temporary directory).

The interruption is simulated in-process at the two places a kill can land: while TF writes the
checkpoint into the staging directory, and after the data file was moved in but before the index
(the file whose presence means "a checkpoint is here"); then for real, a conversion process killed
with SIGKILL at random moments.
"""

import os

import numpy as np
import pytest

from gradcam.checkpoints import default_checkpoint
from nets.nets_factory import NETWORKS
from nets.tf_compat import tf


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
    monkeypatch.setenv("GRADCAM_HOME", str(tmp_path))
    spec = NETWORKS["efficientnet_lite0"]
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


def test_real_sigkill_at_random_moments_then_clean_rerun(tmp_path, monkeypatch):
    """A conversion process killed with SIGKILL at random moments (it may also finish first):
    every time, either no checkpoint is there or a complete one; then a run converts cleanly."""
    import signal
    import subprocess
    import sys
    import time

    code = (
        "from gradcam.checkpoints import default_checkpoint; from nets.nets_factory import "
        "NETWORKS; default_checkpoint(NETWORKS['efficientnet_lite0'])"
    )
    monkeypatch.setenv("GRADCAM_HOME", str(tmp_path))
    spec = NETWORKS["efficientnet_lite0"]
    outcomes = []
    for delay in np.random.default_rng(21).uniform(1.0, 9.0, 5):
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        indexes = list(tmp_path.rglob("*.index"))
        outcomes.append(bool(indexes))
        for index in indexes:  # anything the next run would restore is whole
            reader = tf.train.load_checkpoint(str(index)[: -len(".index")])
            names = reader.get_variable_to_shape_map()
            assert len(names) > 200 and all(np.isfinite(reader.get_tensor(n)).all() for n in names)
            index.unlink()  # make the next round convert again
    assert not all(outcomes)  # at least one kill landed before the conversion was complete
    path = default_checkpoint(spec)
    assert tf.train.load_checkpoint(path).get_variable_to_shape_map()[spec.head_weights] == [
        1280,
        1000,
    ]
    assert [p.name for p in tmp_path.rglob(".*")] == []  # stale staging folders cleaned up
