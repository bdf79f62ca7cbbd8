"""Inception v1 / GoogLeNet (Szegedy et al. 2015, "Going Deeper with Convolutions") from tf_slim.

CAM layer ``Mixed_5c``: 7x7x1024 at 224x224.
"""
from tf_slim.nets import inception_v1 as _slim_inception_v1

inception_v1_arg_scope = _slim_inception_v1.inception_v1_arg_scope


def inception_v1(images, num_classes=1001, is_training=False):
    """Return (logits [N, num_classes], end_points)."""
    return _slim_inception_v1.inception_v1(images, num_classes, is_training=is_training)
