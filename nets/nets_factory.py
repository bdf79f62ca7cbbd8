"""One keyword record per network with everything needed to build, load and explain it.

TF-Slim's own nets_factory keeps two parallel maps (network functions and arg scopes) and folds
the arg_scope into the function it hands out. Here one frozen ``NetworkSpec`` does both and
``NetworkSpec.build`` applies the arg_scope. The built-in records name their functions as
``"module:attribute"`` strings, imported when a network is first built, so reading the registry
(e.g. for ``gradcam --help``) imports no TensorFlow. A record of your own may hold the callables
themselves and needs no registration::

    from nets.nets_factory import NetworkSpec
    spec = NetworkSpec(name="my_net", network_fn=my_net, arg_scope=my_arg_scope,
                       preprocessing="inception", image_size=299, num_classes=3,
                       default_layer="PrePool", head_weights="my_net/logits/weights")
    gradcam.Model(spec, checkpoint="train_dir/")

``register_network(spec)`` adds it to ``NETWORKS`` so that ``--model my_net`` finds it.
``network_fn(images, num_classes, is_training=False)`` returns ``(logits [N, num_classes],
end_points)``; ``default_layer`` names a 4-D end point (the CAM methods' default layer).
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional, Union

SLIM_MODELS_URL = "http://download.tensorflow.org/models/"
DEFAULT_NETWORK = "efficientnet_lite0"


def _resolve(reference):
    """A callable, or the attribute named by a "module:attribute" string (imported now)."""
    if not isinstance(reference, str):
        return reference
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True, kw_only=True)
class NetworkSpec:
    """Everything the toolkit needs to know about one network.

    Attributes:
        name: registry key and graph scope label.
        network_fn: ``(images, num_classes, is_training=False) -> (logits, end_points)``, or a
            "module:attribute" string naming it.
        arg_scope: ``() -> slim arg_scope`` (or its "module:attribute"); None for none.
        preprocessing: a key of ``gradcam.preprocessing.PREPROCESSING``.
        image_size: S of the S x S x 3 input.
        num_classes: classes of the official head.
        default_layer: end point explained by the CAM family unless a layer is given.
        label_offset: 1 when index 0 is Slim's background class; None = 1 for 1001 classes, else 0.
        head_weights: variable name of the final linear layer's weights [.., C_in, C] (CAM).
        checkpoint_file: file name of the default checkpoint under ``<GRADCAM_HOME>/<name>/``.
        download_url: official tarball holding ``checkpoint_file``.
    """

    name: str
    network_fn: Union[Callable, str]
    arg_scope: Union[Callable, str, None] = None
    preprocessing: str
    image_size: int
    num_classes: int
    default_layer: str
    label_offset: Optional[int] = None
    head_weights: Optional[str] = None
    checkpoint_file: Optional[str] = None
    download_url: Optional[str] = None

    def __post_init__(self):
        if self.label_offset is None:
            object.__setattr__(self, "label_offset", 1 if self.num_classes == 1001 else 0)

    def build(self, images, num_classes=None, is_training=False):
        """``(logits, end_points)`` of the network on ``images`` (already value-normalised), built
        in the current graph under the record's arg_scope."""
        # TensorFlow is imported when a network is first built, not when the registry is read
        # (start-up time); nets.tf_compat also makes tf_slim importable under TF 2.21.
        from nets.tf_compat import slim

        scope = _resolve(self.arg_scope)
        with slim.arg_scope(scope() if scope else {}):
            return _resolve(self.network_fn)(
                images, int(num_classes or self.num_classes), is_training=is_training
            )


NETWORKS = {}


def register_network(spec, replace=False):
    """Add ``spec`` to ``NETWORKS`` under its name; returns it. A name that is registered
    already raises ValueError unless ``replace`` is true."""
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"register_network takes a NetworkSpec, got {type(spec).__name__}")
    if spec.name in NETWORKS and not replace:
        raise ValueError(
            f"network {spec.name!r} is registered already; pass replace=True to replace it"
        )
    NETWORKS[spec.name] = spec
    return spec


def _official(name, network_fn, arg_scope, tarball, **fields):
    """A record of an official Slim checkpoint: ``<name>.ckpt`` inside ``tarball``."""
    return NetworkSpec(
        name=name,
        network_fn=network_fn,
        arg_scope=arg_scope,
        checkpoint_file=f"{name}.ckpt",
        download_url=SLIM_MODELS_URL + tarball,
        **fields,
    )


for _spec in (
    NetworkSpec(
        name="efficientnet_lite0",
        network_fn="nets.efficientnet_lite:efficientnet_lite0",
        arg_scope="nets.efficientnet_lite:efficientnet_lite_arg_scope",
        preprocessing="efficientnet_lite",
        image_size=224,
        num_classes=1000,
        default_layer="head",
        head_weights="efficientnet_lite0/logits/weights",
        checkpoint_file="model.ckpt",
    ),
    *(
        _official(
            f"resnet_v2_{depth}",
            f"nets.resnet_v2:resnet_v2_{depth}",
            "nets.resnet_v2:resnet_arg_scope",
            f"resnet_v2_{depth}_2017_04_14.tar.gz",
            preprocessing="inception",
            image_size=299,
            num_classes=1001,
            default_layer="PrePool",
            head_weights=f"resnet_v2_{depth}/logits/weights",
        )
        for depth in (50, 101, 152)
    ),
    _official(
        "inception_v3",
        "tf_slim.nets.inception_v3:inception_v3",
        "tf_slim.nets.inception_v3:inception_v3_arg_scope",
        "inception_v3_2016_08_28.tar.gz",
        preprocessing="inception",
        image_size=299,
        num_classes=1001,
        default_layer="Mixed_7c",
        head_weights="InceptionV3/Logits/Conv2d_1c_1x1/weights",
    ),
    _official(
        "inception_v1",
        "tf_slim.nets.inception_v1:inception_v1",
        "tf_slim.nets.inception_v1:inception_v1_arg_scope",
        "inception_v1_2016_08_28.tar.gz",
        preprocessing="inception",
        image_size=224,
        num_classes=1001,
        default_layer="Mixed_5c",
        head_weights="InceptionV1/Logits/Conv2d_0c_1x1/weights",
    ),
    _official(
        "resnet_v1_50",
        "nets.resnet_v1:resnet_v1_50",
        "nets.resnet_v1:resnet_arg_scope",
        "resnet_v1_50_2016_08_28.tar.gz",
        preprocessing="vgg",
        image_size=224,
        num_classes=1000,
        default_layer="resnet_v1_50/block4",
        head_weights="resnet_v1_50/logits/weights",
    ),
    _official(
        "vgg_16",
        "tf_slim.nets.vgg:vgg_16",
        "tf_slim.nets.vgg:vgg_arg_scope",
        "vgg_16_2016_08_28.tar.gz",
        preprocessing="vgg",
        image_size=224,
        num_classes=1000,
        default_layer="vgg_16/conv5/conv5_3",
    ),
):
    register_network(_spec)
