"""CAM (Zhou et al. 2016, "Learning Deep Features for Discriminative Localization").

For a network ending in global average pooling + one linear layer, the class's weights in that
layer weigh the channels of the pooled feature map; no gradients needed.
"""
from gradcam.errors import UserError
from gradcam.methods.cam_math import cam_weights, weighted_sum
from gradcam.methods.registry import Attribution, register
from gradcam.tf_compat import tf


def head_weights(model):
    """The final linear layer's weights as [C_in, classes], read from the session once."""
    name = model.spec.head_weights
    if not name:
        raise UserError(f"CAM needs a network ending in global average pooling + one linear layer; "
                        f"{model.spec.name} has none (use grad_cam)")

    def read():
        variable = [v for v in tf.global_variables() if v.op.name == name]
        if not variable:
            raise UserError(f"{model.spec.name}: head weights {name!r} are not a variable of the graph")
        weights = model.session.run(variable[0].read_value())
        return weights.reshape(-1, weights.shape[-1])

    return model.cached(("cam", "head_weights"), read)


@register("cam", kind="cam", title="CAM")
def cam(model, images, target, layer=None, batch_size=32):
    """Feature map of ``layer`` (default: the one feeding the pooling) weighted by the head's column."""
    weights = head_weights(model)
    activation, _ = model.layer(layer)
    if activation.shape[-1] != weights.shape[0]:
        raise UserError(f"CAM: layer {layer or model.spec.cam_layer!r} has {activation.shape[-1]} "
                        f"channels but the linear head takes {weights.shape[0]}; use the layer that "
                        "feeds global average pooling")
    out = model.run({"logits": model.logits, "activations": activation}, images, target, batch_size)
    lowres = weighted_sum(out["activations"], cam_weights(weights, model.check_target(target, len(images))))
    return Attribution(lowres, out["logits"], lowres=lowres)
