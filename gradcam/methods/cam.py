"""CAM (Zhou et al. 2016, "Learning Deep Features for Discriminative Localization").

For a network ending in global average pooling + one linear layer, the class's weights in that
layer weigh the channels of the pooled feature map; no gradients needed.
"""
from gradcam.errors import UserError
from gradcam.methods.cam_math import weighted_sum
from gradcam.methods.registry import Attribution, register
from gradcam.methods.shared_pass import pass_method
from gradcam.tf_compat import tf


def target_head_weights(model):
    """Graph tensor [N, C_in]: each row's target column of the final linear layer, read from the
    variable at every run (so weights changed in the session, e.g. randomised, are seen)."""
    name = model.spec.head_weights
    if not name:
        raise UserError(f"CAM needs a network ending in global average pooling + one linear layer; "
                        f"{model.spec.name} has none (use grad_cam)")

    def build():
        variable = [v for v in tf.global_variables() if v.op.name == name]
        if not variable:
            raise UserError(f"{model.spec.name}: head weights {name!r} are not a variable of the graph")
        weights = variable[0].read_value()
        weights = tf.reshape(weights, [-1, weights.shape[-1]])
        return tf.transpose(tf.gather(weights, model.target, axis=1))

    return model.cached(("cam", "head_weights"), build)


@register("cam", kind="cam", title="CAM", one_pass=True)
@pass_method(("activations", "head_weights"))
def cam(model, out):
    """Feature map of ``layer`` (default: the one feeding the pooling) weighted by the head's column."""
    if out["activations"].shape[-1] != out["head_weights"].shape[-1]:
        raise UserError(f"CAM: the layer has {out['activations'].shape[-1]} channels but the linear "
                        f"head takes {out['head_weights'].shape[-1]}; use the layer that feeds "
                        "global average pooling")
    lowres = weighted_sum(out["activations"], out["head_weights"])
    return Attribution(lowres, out["logits"], lowres=lowres)
