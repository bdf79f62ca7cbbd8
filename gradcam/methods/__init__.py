"""Explanation methods, each registered once by name (see ``registry``)."""

from gradcam.methods import (  # noqa: F401  (each registers itself; this order is the figure's)
    # (attention_rollout and generic_attention go to ATTENTION_METHODS: no figure position)
    ablation_cam,
    attention_rollout,
    blur_ig,
    cam,
    eigen_cam,
    generic_attention,
    grad_cam,
    grad_cam_pp,
    gradient,
    guided_backprop,
    guided_grad_cam,
    hires_cam,
    integrated_gradients,
    layer_cam,
    occlusion,
    rise,
    score_cam,
    smoothgrad,
    xgrad_cam,
    xrai,
)
from gradcam.methods.registry import (
    ATTENTION_METHODS,
    METHODS,
    Attribution,
    Cost,
    Method,
    get_method,
    register,
)

__all__ = [
    "ATTENTION_METHODS",
    "METHODS",
    "Attribution",
    "Cost",
    "Method",
    "get_method",
    "register",
]
