"""Your own TF-Slim network, explained by every gradcam command and by the Python API.

From Python no registration is needed: ``gradcam.Model(SPEC, checkpoint=...)``. For the command
line, this file registers the record when imported::

    gradcam list models --register-module examples/my_net.py
    gradcam explain img.png --register-module examples/my_net.py --model tiny_convnet \
        --checkpoint path/to/tiny_convnet.ckpt --labels labels.txt --num-classes 3

``network_fn(images, num_classes, is_training=False)`` gets images already normalised by
``preprocessing`` and returns ``(logits [N, num_classes], end_points)``; ``default_layer`` names a
4-D end point; ``head_weights`` names the final linear layer's weights (used by CAM and by
scripts/finetune.py).
"""

from nets.nets_factory import NetworkSpec, register_network
from nets.tf_compat import slim, tf


def tiny_convnet(images, num_classes=3, is_training=False, scope="tiny_convnet"):
    """Two strided 3x3 convolutions, global average pooling, a linear classifier."""
    end_points = {}
    with tf.variable_scope(scope, "tiny_convnet", [images]):
        net = slim.conv2d(images, 8, 3, stride=2, scope="conv1")
        end_points["conv1"] = net
        net = slim.conv2d(net, 16, 3, stride=2, scope="conv2")
        end_points["conv2"] = net
        net = tf.reduce_mean(net, [1, 2], name="global_pool")
        logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="logits")
        end_points["Logits"] = logits
    return logits, end_points


def tiny_convnet_arg_scope():
    with slim.arg_scope([slim.conv2d], activation_fn=tf.nn.relu, padding="SAME") as scope:
        return scope


SPEC = NetworkSpec(
    name="tiny_convnet",
    network_fn=tiny_convnet,
    arg_scope=tiny_convnet_arg_scope,
    preprocessing="inception",
    image_size=64,
    num_classes=3,
    default_layer="conv2",
    head_weights="tiny_convnet/logits/weights",
)
register_network(SPEC)
