"""Guided Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization"): guided backprop times the upsampled, rectified Grad-CAM map."""

from gradcam import postprocess
from gradcam.methods.grad_cam import grad_cam
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "guided_grad_cam",
    kind="pixel",
    title="Guided Grad-CAM",
    fetches=("activations", "layer_gradients", "guided_input_gradients"),
    cost=Cost("fwd_bwd_input"),
    graph_default_target=True,
)
def guided_grad_cam(model, out):
    """Pixel-level detail from guided backprop, class localisation from Grad-CAM at ``layer``; one
    forward feeds both backward paths (to ``layer`` and, guided, to the pixels)."""
    localisation = postprocess.cam_map(grad_cam(model, out).lowres, model.input_size)
    return Attribution(out["guided_input_gradients"] * localisation[..., None], out["logits"])
