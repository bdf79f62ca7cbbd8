"""Grad-CAM++ (Chattopadhay et al. 2018, "Grad-CAM++: Generalized Gradient-Based Visual
Explanations for Deep Convolutional Networks")."""
from gradcam.methods.cam_math import gradcam_pp_weights, weighted_sum
from gradcam.methods.registry import Attribution, register
from gradcam.methods.shared_pass import pass_method


@register("grad_cam_pp", kind="cam", title="Grad-CAM++", one_pass=True)
@pass_method(("activations", "gradients"))
def grad_cam_pp(model, out):
    """One forward and a backward to ``layer``; position-weighted positive gradients as weights."""
    lowres = weighted_sum(out["activations"], gradcam_pp_weights(out["activations"], out["gradients"]))
    return Attribution(lowres, out["logits"], lowres=lowres)
