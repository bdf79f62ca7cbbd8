"""Grad-CAM++ (Chattopadhay et al. 2018, "Grad-CAM++: Generalized Gradient-Based Visual
Explanations for Deep Convolutional Networks")."""
from gradcam.methods.cam_math import gradcam_pp_weights, weighted_sum
from gradcam.methods.registry import Attribution, register


@register("grad_cam_pp", kind="cam", title="Grad-CAM++", one_pass=True)
def grad_cam_pp(model, images, target, layer=None, batch_size=32):
    """One forward and a backward to ``layer``; position-weighted positive gradients as weights."""
    out = model.layer_and_gradients(images, target, layer, batch_size)
    lowres = weighted_sum(out["activations"], gradcam_pp_weights(out["activations"], out["gradients"]))
    return Attribution(lowres, out["logits"], lowres=lowres)
