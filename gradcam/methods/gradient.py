"""Vanilla gradient (Simonyan et al. 2013, "Deep Inside Convolutional Networks: Visualising Image
Classification Models and Saliency Maps"): d(class score) / d(input pixels)."""

from gradcam.fetch_keys import INPUT_GRADIENTS, LOGITS
from gradcam.methods.registry import Attribution, Cost, register
from gradcam.score import LOGIT


@register(
    "gradient",
    display="magnitude",
    title="Gradient",
    cost=Cost("fwd_bwd_input"),
    graph_default_target=True,
)
def gradient(model, images, target, layer=None, batch_size=32, score=LOGIT):
    """Input gradient of the target's score; ``layer`` is not used."""
    out = model.fetch(images, target, [LOGITS, INPUT_GRADIENTS], batch_size=batch_size, score=score)
    return Attribution(raw=out[INPUT_GRADIENTS], logits=out[LOGITS])
