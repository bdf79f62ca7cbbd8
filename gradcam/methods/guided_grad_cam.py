"""Guided Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization"): guided backprop times the upsampled, rectified Grad-CAM map."""
from gradcam import postprocess
from gradcam.methods.grad_cam import grad_cam
from gradcam.methods.registry import Attribution, register
from gradcam.methods.shared_pass import pass_method


@register("guided_grad_cam", kind="pixel", title="Guided Grad-CAM", one_pass=True)
@pass_method(("activations", "gradients", "guided"))
def guided_grad_cam(model, out):
    """Pixel-level detail from guided backprop, class localisation from Grad-CAM at ``layer``; one
    forward feeds both backward paths (to ``layer`` and, guided, to the pixels)."""
    localisation = postprocess.cam_map(grad_cam.combine(model, out).lowres, model.image_size)
    return Attribution(out["guided"] * localisation[..., None], out["logits"])
