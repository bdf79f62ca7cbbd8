"""Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization")."""

from gradcam.methods.cam_math import gradcam_weights, weighted_sum
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "grad_cam",
    kind="cam",
    title="Grad-CAM",
    fetches=("activations", "layer_gradients"),
    cost=Cost("fwd_bwd_layer"),
    lowres=True,
    graph_default_target=True,
)
def grad_cam(model, out):
    """One forward and a backward to ``layer``; weights = GAP of the gradients."""
    lowres = weighted_sum(out["activations"], gradcam_weights(out["layer_gradients"]))
    return Attribution(lowres, out["logits"], lowres=lowres)
