"""Generic attention explainability (Chefer, Gur & Wolf 2021, "Generic Attention-model
Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers", Eqs. 5-6 for
self-attention): each block's attention weighted by the gradient of the target's score,
Ā_b = mean over heads of (∇A_b ⊙ A_b)^+, accumulated through the blocks from the identity,
R ← R + Ā_b R; the map is the class token's row of R - I over the patch tokens (the mean of the
rows for a model without a class token). Class-specific: one forward and one backward to the
attention."""

import numpy as np

from gradcam.fetch_keys import ATTENTION, ATTENTION_GRADIENTS, LOGITS
from gradcam.methods.attention_math import patch_map, read_out, through_blocks, token_layout
from gradcam.methods.registry import Attribution, Cost, register


def relevance(attention, gradients, layout):
    """The read-out rows of R - I [N, T], R = (I + Ā_B) ... (I + Ā_1) (the update R <- R + Ā_b R
    from R = I, block by block), of attention probabilities and their gradients [N, B, H, T, T]
    (``through_blocks`` with the identity added)."""
    weighted = np.maximum(np.asarray(attention) * np.asarray(gradients), 0).mean(axis=2)
    start = read_out(layout, weighted.shape[-1], len(weighted))
    return through_blocks(start, weighted) - start


@register(
    "generic_attention",
    display="positive",
    title="Generic attention (Chefer)",
    fetches=(ATTENTION, ATTENTION_GRADIENTS),
    cost=Cost("fwd_bwd_layer"),
    lowres=True,
    graph_default_target=True,
    requires_attention=True,
)
def generic_attention(model, out):
    """One forward and a backward to every block's attention probabilities."""
    layout = token_layout(model)
    lowres = patch_map(relevance(out[ATTENTION], out[ATTENTION_GRADIENTS], layout), layout)
    return Attribution(raw=lowres, logits=out[LOGITS], lowres=lowres)
