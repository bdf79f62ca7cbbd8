"""Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization")."""
from gradcam.methods.cam_math import gradcam_weights, weighted_sum
from gradcam.methods.registry import Attribution, register


@register("grad_cam", kind="cam", title="Grad-CAM", one_pass=True)
def grad_cam(model, images, target, layer=None, batch_size=32):
    """One forward and a backward to ``layer``; weights = GAP of the gradients."""
    out = model.layer_and_gradients(images, target, layer, batch_size)
    lowres = weighted_sum(out["activations"], gradcam_weights(out["gradients"]))
    return Attribution(lowres, out["logits"], lowres=lowres)
