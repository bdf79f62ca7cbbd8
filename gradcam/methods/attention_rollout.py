"""Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): each
block's attention, heads fused (mean, max or min), with the residual connection as the identity,
Â_b = (A_b + I) / 2 with rows normalised to sum 1, multiplied through the blocks,
R = Â_B ... Â_1; the map is the class token's row of R over the patch tokens (the mean of the
rows for a model without a class token).

Class-agnostic: the same map for every target (no score, no gradient: one forward; registered
``uses_score=False``, so ``explain`` refuses a contrast or a probability score for it)."""

import numpy as np

from gradcam.errors import UserError
from gradcam.fetch_keys import ATTENTION, LOGITS
from gradcam.methods.attention_math import fuse_heads, patch_map, read_out, token_layout
from gradcam.methods.registry import Attribution, Cost, register
from gradcam.score import LOGIT


def rollout(attention, layout, head_fusion="mean", residual=True):
    """The read-out rows of R = Â_B ... Â_1 [N, T] of attention probabilities [N, B, H, T, T]
    (see the module docstring). R is never formed: the rows go through each block, last first,
    and Â_b = D^-1 (A_b + I), D its row sums (the /2 cancels), is applied as
    rows · Â_b = (rows / d) · A_b + rows / d."""
    fused = fuse_heads(attention, head_fusion)
    rows = read_out(layout, fused.shape[-1], len(fused))
    for block in reversed(range(fused.shape[1])):
        step = fused[:, block]
        scaled = rows / (step.sum(axis=-1) + (1.0 if residual else 0.0))
        rows = np.einsum("ni,nij->nj", scaled, step) + (scaled if residual else 0.0)
    return rows


@register(
    "attention_rollout",
    display="positive",
    title="Attention rollout",
    cost=Cost("forward"),
    lowres=True,
    graph_default_target=True,
    requires_attention=True,
    uses_score=False,
)
def attention_rollout(
    model, images, target, layer=None, batch_size=32, score=LOGIT, head_fusion="mean", residual=True
):
    """``head_fusion``: "mean" (the paper), "max" or "min" over the heads; ``residual``: add the
    identity for the skip connections (the paper's Â). ``layer`` does not apply (every block's
    attention is used)."""
    if not isinstance(residual, bool):
        raise UserError(f"attention_rollout: residual is True or False, got {residual!r}")
    out = model.fetch(images, target, [LOGITS, ATTENTION], None, batch_size)
    layout = token_layout(model)
    lowres = patch_map(rollout(out[ATTENTION], layout, head_fusion, residual), layout)
    return Attribution(raw=lowres, logits=out[LOGITS], lowres=lowres)
