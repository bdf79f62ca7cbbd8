"""Guided backpropagation (Springenberg et al. 2014, "Striving for Simplicity: The All
Convolutional Net"): the input gradient where every ReLU also blocks negative incoming gradients."""

from gradcam.methods.registry import Attribution, Cost, register


@register(
    "guided_backprop",
    kind="pixel",
    title="Guided backprop",
    cost=Cost("fwd_bwd_input"),
    graph_default_target=True,
)
def guided_backprop(model, images, target, layer=None, batch_size=32):
    """Guided input gradient of the target logit; ``layer`` is not used."""
    out = model.fetch(images, target, ["logits", "guided_input_gradients"], batch_size=batch_size)
    return Attribution(out["guided_input_gradients"], out["logits"])
