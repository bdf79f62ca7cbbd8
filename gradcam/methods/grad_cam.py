"""Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization")."""

from gradcam.fetch_keys import ACTIVATIONS, LAYER_GRADIENTS, LOGITS
from gradcam.methods.cam_math import gradcam_weights, weighted_sum
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "grad_cam",
    display="positive",
    title="Grad-CAM",
    fetches=(ACTIVATIONS, LAYER_GRADIENTS),
    cost=Cost("fwd_bwd_layer"),
    lowres=True,
    graph_default_target=True,
)
def grad_cam(model, out):
    """One forward and a backward to ``layer``; weights = GAP of the gradients."""
    lowres = weighted_sum(out[ACTIVATIONS], gradcam_weights(out[LAYER_GRADIENTS]))
    return Attribution(raw=lowres, logits=out[LOGITS], lowres=lowres)
