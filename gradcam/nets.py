"""The network registry under the package's own name, so API code never imports the top-level
``nets`` package (whose name clashes with TF-Slim's own ``nets``)::

    from gradcam.nets import NetworkSpec, register_network

    spec = NetworkSpec(name="mine", network_fn=..., preprocessing="inception", image_size=224,
                       num_classes=10, default_layer="conv5")
    model = gradcam.Model(spec, checkpoint="mine.ckpt")

These are the very objects of ``nets.nets_factory`` (re-exported, not copied): one registry. Like
``nets.nets_factory``, importing this imports no TensorFlow.
"""

from nets.nets_factory import DEFAULT_NETWORK, NETWORKS, NetworkSpec, register_network

__all__ = ["DEFAULT_NETWORK", "NETWORKS", "NetworkSpec", "register_network"]
