"""Guided backpropagation (Springenberg et al. 2014, "Striving for Simplicity: The All
Convolutional Net"): the input gradient where every ReLU also blocks negative incoming gradients."""
from gradcam.methods.registry import Attribution, register


@register("guided_backprop", kind="pixel", title="Guided backprop", one_pass=True)
def guided_backprop(model, images, target, layer=None, batch_size=32):
    """Guided input gradient of the target logit; ``layer`` is not used."""
    out = model.input_gradients(images, target, batch_size, guided=True)
    return Attribution(out["gradients"], out["logits"])
