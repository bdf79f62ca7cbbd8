"""VGG-16 (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks") from tf_slim.

CAM layer ``vgg_16/conv5/conv5_3``: 14x14x512 at 224x224.
"""
from tf_slim.nets import vgg as _slim_vgg

vgg_arg_scope = _slim_vgg.vgg_arg_scope


def vgg_16(images, num_classes=1000, is_training=False):
    """Return (logits [N, num_classes], end_points)."""
    return _slim_vgg.vgg_16(images, num_classes, is_training=is_training)
