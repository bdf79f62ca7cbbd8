"""Maps a network name to ONE record with everything needed to build, load and explain it.

Add your own classifier with one call::

    from nets.nets_factory import NetworkSpec, register_network
    register_network(NetworkSpec(name="my_net", network_fn=my_net, arg_scope=my_arg_scope,
                                 preprocessing="inception", image_size=299, num_classes=3,
                                 label_offset=0, cam_layer="PrePool"))

``network_fn(images, num_classes, is_training=False)`` must return ``(logits [N, num_classes],
end_points)``; ``cam_layer`` names an end point of shape [N, h, w, c].
"""
from dataclasses import dataclass
from typing import Callable, Optional

from gradcam.errors import UserError
from nets import efficientnet_lite, inception_v1, inception_v3, resnet_v1, resnet_v2, vgg

SLIM_MODELS_URL = "http://download.tensorflow.org/models/"


@dataclass(frozen=True)
class NetworkSpec:
    """Everything the toolkit needs to know about one network."""

    name: str
    network_fn: Callable  # (images, num_classes, is_training=False) -> (logits [N, C], end_points)
    arg_scope: Callable  # () -> slim arg_scope
    preprocessing: str  # a key of nets.preprocessing.PREPROCESSING
    image_size: int
    num_classes: int
    label_offset: int  # 1 when index 0 is Slim's background class (1001-way nets), else 0
    cam_layer: str  # default end point for CAM-style methods
    checkpoint_file: Optional[str] = None  # file name under checkpoints/<name>/
    download_url: Optional[str] = None  # official tarball holding checkpoint_file
    convert: Optional[Callable] = None  # (out_path) -> None, builds the checkpoint locally
    head_weights: Optional[str] = None  # variable of the final linear layer (for CAM), [.., C_in, C]


def _lite0_convert(out_path):
    from gradcam.weights.lite0 import convert_lite0_checkpoint

    convert_lite0_checkpoint(out_path)


def _slim(name, fn, arg_scope, prep, size, classes, layer, tarball, head):
    return NetworkSpec(name, fn, arg_scope, prep, size, classes, 1 if classes == 1001 else 0, layer,
                       f"{name}.ckpt", SLIM_MODELS_URL + tarball, None, head)


NETWORKS = {}


def register_network(spec):
    """Add (or replace) a network record; returns the spec."""
    if not isinstance(spec, NetworkSpec):
        raise TypeError("register_network takes a NetworkSpec")
    NETWORKS[spec.name] = spec
    return spec


for _spec in (
    NetworkSpec("efficientnet_lite0", efficientnet_lite.efficientnet_lite0,
                efficientnet_lite.efficientnet_lite_arg_scope, "efficientnet_lite", 224, 1000, 0,
                efficientnet_lite.CAM_LAYER, "model.ckpt", None, _lite0_convert,
                efficientnet_lite.HEAD_WEIGHTS),
    _slim("resnet_v2_50", resnet_v2.resnet_v2_50, resnet_v2.resnet_arg_scope, "inception", 299, 1001,
          "PrePool", "resnet_v2_50_2017_04_14.tar.gz", "resnet_v2_50/logits/weights"),
    _slim("resnet_v2_101", resnet_v2.resnet_v2_101, resnet_v2.resnet_arg_scope, "inception", 299,
          1001, "PrePool", "resnet_v2_101_2017_04_14.tar.gz", "resnet_v2_101/logits/weights"),
    _slim("resnet_v2_152", resnet_v2.resnet_v2_152, resnet_v2.resnet_arg_scope, "inception", 299,
          1001, "PrePool", "resnet_v2_152_2017_04_14.tar.gz", "resnet_v2_152/logits/weights"),
    _slim("inception_v3", inception_v3.inception_v3, inception_v3.inception_v3_arg_scope,
          "inception", 299, 1001, "Mixed_7c", "inception_v3_2016_08_28.tar.gz",
          "InceptionV3/Logits/Conv2d_1c_1x1/weights"),
    _slim("inception_v1", inception_v1.inception_v1, inception_v1.inception_v1_arg_scope,
          "inception", 224, 1001, "Mixed_5c", "inception_v1_2016_08_28.tar.gz",
          "InceptionV1/Logits/Conv2d_0c_1x1/weights"),
    _slim("resnet_v1_50", resnet_v1.resnet_v1_50, resnet_v1.resnet_arg_scope, "vgg", 224, 1000,
          "resnet_v1_50/block4", "resnet_v1_50_2016_08_28.tar.gz", "resnet_v1_50/logits/weights"),
    _slim("vgg_16", vgg.vgg_16, vgg.vgg_arg_scope, "vgg", 224, 1000, "vgg_16/conv5/conv5_3",
          "vgg_16_2016_08_28.tar.gz", None),
):
    register_network(_spec)

DEFAULT_NETWORK = "efficientnet_lite0"


def get_network(name):
    """The record for ``name``; an unknown name raises UserError listing the valid ones."""
    if name not in NETWORKS:
        raise UserError(f"unknown model {name!r}; valid models: {', '.join(sorted(NETWORKS))}")
    return NETWORKS[name]
