"""ResNet v1 (He et al. 2016, "Deep Residual Learning for Image Recognition") from tf_slim.

Logits are squeezed to [N, num_classes]; the CAM layer is the last block's output
(``resnet_v1_50/block4``, 7x7x2048 at 224x224, already through its ReLU).
"""

from tf_slim.nets import resnet_v1 as _slim_resnet_v1

from nets.tf_compat import tf

resnet_arg_scope = _slim_resnet_v1.resnet_utils.resnet_arg_scope


def resnet_v1_50(images, num_classes=1000, is_training=False):
    """Return (logits [N, num_classes], end_points)."""
    net, end_points = _slim_resnet_v1.resnet_v1_50(images, num_classes, is_training=is_training)
    logits = tf.squeeze(net, [1, 2], name="SpatialSqueeze")
    end_points["Logits"] = logits
    return logits, end_points
