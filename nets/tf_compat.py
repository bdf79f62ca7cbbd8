"""One place that imports TensorFlow in TF1 graph mode with tf-slim working.

tf-slim 1.1.0 reaches for ``tf_keras.legacy_tf_layers`` (an old module path); tf-keras 2.21 keeps
that package at ``tf_keras.src.legacy_tf_layers``. Aliasing it in ``sys.modules`` before tf-slim is
imported makes ``slim.batch_norm`` and friends work under TensorFlow 2.21.
"""

import contextlib
import os
import sys
import warnings

_DEBUG = bool(os.environ.get("GRADCAM_DEBUG"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if _DEBUG else "3")


@contextlib.contextmanager
def _quiet_native_stderr():
    """TF's C++ start-up messages (CUDA probing, absl) bypass its log level; hide them unless
    GRADCAM_DEBUG is set. Python exceptions still propagate and print after the fd is restored."""
    if _DEBUG:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


with _quiet_native_stderr():
    import tensorflow  # noqa: E402,F401
    import tf_keras.src.legacy_tf_layers as _legacy_layers  # noqa: E402

sys.modules.setdefault("tf_keras.legacy_tf_layers", _legacy_layers)

import tensorflow.compat.v1 as tf  # noqa: E402
import tf_slim as slim  # noqa: E402

tf.disable_eager_execution()
tf.logging.set_verbosity(tf.logging.ERROR)
warnings.filterwarnings("ignore", message=".*layer.apply. is deprecated")

__all__ = ["tf", "slim"]
