"""Grad-CAM and the family of visual explanations for TF-Slim image classifiers.

Typical use::

    from gradcam.model import Model
    from gradcam.explain import explain
    model = Model("efficientnet_lite0")
    image = model.prepare(rgb_uint8_photo)
    result = explain(model, image[None], model.class_index("espresso"), method="grad_cam")
"""
__version__ = "0.1.0"
