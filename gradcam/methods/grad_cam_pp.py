"""Grad-CAM++ (Chattopadhay et al. 2018, "Grad-CAM++: Generalized Gradient-Based Visual
Explanations for Deep Convolutional Networks")."""

from gradcam.fetch_keys import ACTIVATIONS, LAYER_GRADIENTS, LOGITS
from gradcam.methods.cam_math import gradcam_pp_weights, weighted_sum
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "grad_cam_pp",
    display="positive",
    title="Grad-CAM++",
    fetches=(ACTIVATIONS, LAYER_GRADIENTS),
    cost=Cost("fwd_bwd_layer"),
    lowres=True,
    graph_default_target=True,
)
def grad_cam_pp(model, out):
    """One forward and a backward to ``layer``; position-weighted positive gradients as weights."""
    lowres = weighted_sum(
        out[ACTIVATIONS], gradcam_pp_weights(out[ACTIVATIONS], out[LAYER_GRADIENTS])
    )
    return Attribution(raw=lowres, logits=out[LOGITS], lowres=lowres)
