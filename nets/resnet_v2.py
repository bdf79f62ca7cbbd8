"""ResNet v2 (He et al. 2016, "Identity Mappings in Deep Residual Networks") in TF-Slim.

Built from tf_slim's residual units so variable names equal the official Slim checkpoints
(``resnet_v2_50/block1/unit_1/bottleneck_v2/...``). Unlike tf_slim's version it exposes the
final post-norm ReLU as the ``PrePool`` end point (10x10x2048 at 299x299), the layer the Hive
write-up's Grad-CAM reads.
"""

from tf_slim.nets import resnet_utils
from tf_slim.nets.resnet_v2 import bottleneck, resnet_v2_block

from nets.tf_compat import slim, tf

resnet_arg_scope = resnet_utils.resnet_arg_scope

_UNITS = {
    "resnet_v2_50": (3, 4, 6, 3),
    "resnet_v2_101": (3, 4, 23, 3),
    "resnet_v2_152": (3, 8, 36, 3),
}


def resnet_v2(images, num_classes, depth_name, is_training=False, reuse=None):
    """Return (logits [N, num_classes], end_points) for one of resnet_v2_50/101/152."""
    units = _UNITS[depth_name]
    blocks = [
        resnet_v2_block("block1", base_depth=64, num_units=units[0], stride=2),
        resnet_v2_block("block2", base_depth=128, num_units=units[1], stride=2),
        resnet_v2_block("block3", base_depth=256, num_units=units[2], stride=2),
        resnet_v2_block("block4", base_depth=512, num_units=units[3], stride=1),
    ]
    with tf.variable_scope(None, depth_name, [images], reuse=reuse) as sc:
        collection = sc.original_name_scope + "_end_points"
        with (
            slim.arg_scope(
                [slim.conv2d, bottleneck, resnet_utils.stack_blocks_dense],
                outputs_collections=collection,
            ),
            slim.arg_scope([slim.batch_norm], is_training=is_training),
        ):
            with slim.arg_scope([slim.conv2d], activation_fn=None, normalizer_fn=None):
                net = resnet_utils.conv2d_same(images, 64, 7, stride=2, scope="conv1")
            net = slim.max_pool2d(net, [3, 3], stride=2, scope="pool1")
            net = resnet_utils.stack_blocks_dense(net, blocks)
            net = slim.batch_norm(net, activation_fn=tf.nn.relu, scope="postnorm")
            end_points = slim.utils.convert_collection_to_dict(collection)
            end_points["PrePool"] = net
            net = tf.reduce_mean(net, [1, 2], name="pool5", keepdims=True)
            end_points["global_pool"] = net
            net = slim.conv2d(
                net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="logits"
            )
            logits = tf.squeeze(net, [1, 2], name="SpatialSqueeze")
            end_points["Logits"] = logits
    return logits, end_points


def resnet_v2_50(images, num_classes=1001, is_training=False):
    return resnet_v2(images, num_classes, "resnet_v2_50", is_training)


def resnet_v2_101(images, num_classes=1001, is_training=False):
    return resnet_v2(images, num_classes, "resnet_v2_101", is_training)


def resnet_v2_152(images, num_classes=1001, is_training=False):
    return resnet_v2(images, num_classes, "resnet_v2_152", is_training)
