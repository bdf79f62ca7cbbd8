"""Inception v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture") from tf_slim.

CAM layer ``Mixed_7c``: 8x8x2048 at 299x299. The auxiliary head is kept so the variable set
equals the official checkpoint; it is never run when only the main logits are fetched.
"""
from tf_slim.nets import inception_v3 as _slim_inception_v3

inception_v3_arg_scope = _slim_inception_v3.inception_v3_arg_scope


def inception_v3(images, num_classes=1001, is_training=False):
    """Return (logits [N, num_classes], end_points)."""
    return _slim_inception_v3.inception_v3(images, num_classes, is_training=is_training)
