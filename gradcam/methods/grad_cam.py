"""Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization")."""
from gradcam.methods.cam_math import gradcam_weights, weighted_sum
from gradcam.methods.registry import Attribution, register
from gradcam.methods.shared_pass import pass_method


@register("grad_cam", kind="cam", title="Grad-CAM", one_pass=True)
@pass_method(("activations", "gradients"))
def grad_cam(model, out):
    """One forward and a backward to ``layer``; weights = GAP of the gradients."""
    lowres = weighted_sum(out["activations"], gradcam_weights(out["gradients"]))
    return Attribution(lowres, out["logits"], lowres=lowres)
