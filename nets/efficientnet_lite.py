"""EfficientNet-Lite0 in TF-Slim style.

EfficientNet: Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks" (ICML). The Lite variants (TensorFlow TPU repository, "EfficientNet-Lite", March 2020)
drop squeeze-and-excite, use ReLU6 instead of swish and keep the stem (32) and head (1280) widths
fixed; Lite0 has the B0 depth and width.

Variables, all under ``efficientnet_lite0/`` (no conv biases; every conv has a ``BatchNorm``
sub-scope with ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``):

- ``stem/weights``                       3x3 stride-2 conv, [3, 3, 3, 32]
- ``block_N/expand/weights``             1x1 expansion conv, [1, 1, C_in, C_mid] (absent in block_0)
- ``block_N/depthwise/depthwise_weights`` kxk depthwise conv, [k, k, C_mid, 1]
- ``block_N/project/weights``            1x1 linear projection, [1, 1, C_mid, C_out]
- ``head/weights``                       1x1 conv, [1, 1, 320, 1280]
- ``logits/weights``, ``logits/biases``  fully connected, [1280, num_classes] and [num_classes]

CAM layer ``head``: 7x7x1280 at 224x224 (after the head's ReLU6).
"""

from nets.tf_compat import slim, tf

CAM_LAYER = "head"
HEAD_WEIGHTS = "efficientnet_lite0/logits/weights"

# (expand ratio, kernel, stride, output channels, repeats): the EfficientNet-B0 stage table.
LITE0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
DROPOUT_KEEP_PROB = 0.8


def efficientnet_lite_arg_scope(batch_norm_decay=0.99, batch_norm_epsilon=1e-3):
    """Convs without biases, followed by batch norm (with gamma) and ReLU6, TF 'SAME' padding."""
    with slim.arg_scope(
        [slim.conv2d, slim.separable_conv2d],
        padding="SAME",
        activation_fn=tf.nn.relu6,
        normalizer_fn=slim.batch_norm,
        biases_initializer=None,
    ):
        with slim.arg_scope(
            [slim.batch_norm],
            decay=batch_norm_decay,
            epsilon=batch_norm_epsilon,
            scale=True,
            center=True,
        ) as scope:
            return scope


def _mbconv_block(net, expand_ratio, kernel, stride, out_channels, scope):
    """Inverted residual (MobileNetV2 MBConv) without squeeze-excite; identity skip if shapes match."""
    in_channels = net.shape[-1]
    with tf.variable_scope(scope):
        block_input = net
        if expand_ratio != 1:
            net = slim.conv2d(net, in_channels * expand_ratio, 1, scope="expand")
        net = slim.separable_conv2d(
            net, None, kernel, depth_multiplier=1, stride=stride, scope="depthwise"
        )
        net = slim.conv2d(net, out_channels, 1, activation_fn=None, scope="project")
        if stride == 1 and in_channels == out_channels:
            net = net + block_input
    return net


def efficientnet_lite0(images, num_classes=1000, is_training=False, scope="efficientnet_lite0"):
    """Return (logits [N, num_classes], end_points) for images already scaled by (x - 127) / 128."""
    end_points = {}
    with tf.variable_scope(scope, "efficientnet_lite0", [images]):
        with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
            net = slim.conv2d(images, STEM_FILTERS, 3, stride=2, scope="stem")
            end_points["stem"] = net
            block_index = 0
            for expand_ratio, kernel, stride, out_channels, repeats in LITE0_STAGES:
                for repeat in range(repeats):
                    name = f"block_{block_index}"
                    net = _mbconv_block(
                        net, expand_ratio, kernel, stride if repeat == 0 else 1, out_channels, name
                    )
                    end_points[name] = net
                    block_index += 1
            net = slim.conv2d(net, HEAD_FILTERS, 1, scope="head")
            end_points["head"] = net
            net = tf.reduce_mean(net, [1, 2], name="global_pool")
            end_points["global_pool"] = net
            net = slim.dropout(net, DROPOUT_KEEP_PROB, scope="dropout")
            logits = slim.fully_connected(
                net, num_classes, activation_fn=None, normalizer_fn=None, scope="logits"
            )
            end_points["Logits"] = logits
            end_points["Predictions"] = tf.nn.softmax(logits, name="Predictions")
    return logits, end_points
