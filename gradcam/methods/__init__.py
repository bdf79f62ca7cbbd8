"""Explanation methods, each registered once by name (see ``registry``)."""
from gradcam.methods import (  # noqa: F401  (each registers itself; this order is the figure's)
    grad_cam, cam, grad_cam_pp, layer_cam, xgrad_cam, hires_cam, eigen_cam, score_cam, ablation_cam,
    gradient, guided_backprop, guided_grad_cam, smoothgrad, integrated_gradients, blur_ig, xrai,
    occlusion, rise)
from gradcam.methods.registry import METHODS, Attribution, Cost, Method, get_method, register

__all__ = ["METHODS", "Attribution", "Cost", "Method", "get_method", "register"]
