"""Guided Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization"): guided backprop times the upsampled, rectified Grad-CAM map."""
from gradcam import postprocess
from gradcam.methods.grad_cam import grad_cam
from gradcam.methods.guided_backprop import guided_backprop
from gradcam.methods.registry import Attribution, register


@register("guided_grad_cam", kind="pixel", title="Guided Grad-CAM")
def guided_grad_cam(model, images, target, layer=None, batch_size=32):
    """Pixel-level detail from guided backprop, class localisation from Grad-CAM at ``layer``."""
    coarse = grad_cam(model, images, target, layer, batch_size)
    fine = guided_backprop(model, images, target, batch_size=batch_size)
    localisation = postprocess.cam_map(coarse.lowres, model.image_size)
    return Attribution(fine.raw * localisation[..., None], coarse.logits)
