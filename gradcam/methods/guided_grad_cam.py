"""Guided Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization"): guided backprop times the upsampled, rectified Grad-CAM map."""

from gradcam.arrays import normalize, relu, upsample
from gradcam.fetch_keys import ACTIVATIONS, GUIDED_INPUT_GRADIENTS, LAYER_GRADIENTS, LOGITS
from gradcam.methods.grad_cam import grad_cam
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "guided_grad_cam",
    display="magnitude",
    title="Guided Grad-CAM",
    fetches=(ACTIVATIONS, LAYER_GRADIENTS, GUIDED_INPUT_GRADIENTS),
    cost=Cost("fwd_bwd_input"),
    graph_default_target=True,
)
def guided_grad_cam(model, out):
    """Pixel-level detail from guided backprop, class localisation from Grad-CAM at ``layer``; one
    forward feeds both backward paths (to ``layer`` and, guided, to the pixels)."""
    localisation = normalize(upsample(relu(grad_cam(model, out).lowres), model.input_size))
    return Attribution(
        raw=out[GUIDED_INPUT_GRADIENTS] * localisation[..., None], logits=out[LOGITS]
    )
