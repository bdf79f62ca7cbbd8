"""Grad-CAM++ (Chattopadhay et al. 2018, "Grad-CAM++: Generalized Gradient-Based Visual
Explanations for Deep Convolutional Networks")."""

from gradcam.methods.cam_math import gradcam_pp_weights, weighted_sum
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "grad_cam_pp",
    kind="cam",
    title="Grad-CAM++",
    fetches=("activations", "layer_gradients"),
    cost=Cost("fwd_bwd_layer"),
    lowres=True,
    graph_default_target=True,
)
def grad_cam_pp(model, out):
    """One forward and a backward to ``layer``; position-weighted positive gradients as weights."""
    lowres = weighted_sum(
        out["activations"], gradcam_pp_weights(out["activations"], out["layer_gradients"])
    )
    return Attribution(lowres, out["logits"], lowres=lowres)
