"""Vanilla gradient (Simonyan et al. 2013, "Deep Inside Convolutional Networks: Visualising Image
Classification Models and Saliency Maps"): d(class score) / d(input pixels)."""
from gradcam.methods.registry import Attribution, register


@register("gradient", kind="pixel", title="Gradient", one_pass=True)
def gradient(model, images, target, layer=None, batch_size=32):
    """Input gradient of the target logit; ``layer`` is not used."""
    out = model.input_gradients(images, target, batch_size)
    return Attribution(out["gradients"], out["logits"])
