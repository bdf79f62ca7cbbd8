"""Guided backpropagation (Springenberg et al. 2014, "Striving for Simplicity: The All
Convolutional Net"): the input gradient where every ReLU also blocks negative incoming gradients."""

from gradcam.fetch_keys import GUIDED_INPUT_GRADIENTS, LOGITS
from gradcam.methods.registry import Attribution, Cost, register
from gradcam.score import LOGIT


@register(
    "guided_backprop",
    display="magnitude",
    title="Guided backprop",
    cost=Cost("fwd_bwd_input"),
    graph_default_target=True,
)
def guided_backprop(model, images, target, layer=None, batch_size=32, score=LOGIT):
    """Guided input gradient of the target's score; ``layer`` is not used."""
    out = model.fetch(
        images, target, [LOGITS, GUIDED_INPUT_GRADIENTS], batch_size=batch_size, score=score
    )
    return Attribution(raw=out[GUIDED_INPUT_GRADIENTS], logits=out[LOGITS])
