"""Explanation methods, each registered once by name (see ``registry``)."""

from gradcam.methods import (  # noqa: F401  (each registers itself; this order is the figure's)
    ablation_cam,
    blur_ig,
    cam,
    eigen_cam,
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
from gradcam.methods.registry import METHODS, Attribution, Cost, Method, get_method, register

__all__ = ["METHODS", "Attribution", "Cost", "Method", "get_method", "register"]
