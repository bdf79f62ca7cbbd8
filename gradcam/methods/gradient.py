"""Vanilla gradient (Simonyan et al. 2013, "Deep Inside Convolutional Networks: Visualising Image
Classification Models and Saliency Maps"): d(class score) / d(input pixels)."""

from gradcam.methods.registry import Attribution, Cost, register


@register(
    "gradient",
    kind="pixel",
    title="Gradient",
    cost=Cost("fwd_bwd_input"),
    graph_default_target=True,
)
def gradient(model, images, target, layer=None, batch_size=32):
    """Input gradient of the target logit; ``layer`` is not used."""
    out = model.fetch(images, target, ["logits", "input_gradients"], batch_size=batch_size)
    return Attribution(out["input_gradients"], out["logits"])
