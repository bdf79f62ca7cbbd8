"""Explanation methods, each registered once by name (see ``registry``)."""
from gradcam.methods import grad_cam  # noqa: F401  (registers)
from gradcam.methods.registry import METHODS, Attribution, Method, get_method, register

__all__ = ["METHODS", "Attribution", "Method", "get_method", "register"]
