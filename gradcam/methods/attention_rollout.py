"""Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): each
block's attention, heads fused (mean, max or min), with the residual connection as the identity,
Â_b = (A_b + I) / 2 with rows normalised to sum 1, multiplied through the blocks,
R = Â_B ... Â_1; the map is the class token's row of R over the patch tokens (the mean of the
rows for a model without a class token).

Class-agnostic: the same map for every target (no score, no gradient: one forward)."""

import numpy as np

from gradcam.methods.attention_math import fuse_heads, patch_map, token_layout
from gradcam.methods.registry import Attribution, Cost, register


def rollout(attention, head_fusion="mean", residual=True):
    """R [N, T, T] of attention probabilities [N, B, H, T, T] (see the module docstring)."""
    fused = fuse_heads(attention, head_fusion)
    count = fused.shape[-1]
    identity = np.eye(count)
    out = np.broadcast_to(identity, (len(fused), count, count)).copy()
    for block in range(fused.shape[1]):
        step = fused[:, block]
        if residual:
            step = (step + identity) / 2
        step = step / step.sum(axis=-1, keepdims=True)
        out = step @ out
    return out


@register(
    "attention_rollout",
    kind="cam",
    title="Attention rollout",
    cost=Cost("forward"),
    lowres=True,
    graph_default_target=True,
    requires_attention=True,
)
def attention_rollout(
    model, images, target, layer=None, batch_size=32, head_fusion="mean", residual=True
):
    """``head_fusion``: "mean" (the paper), "max" or "min" over the heads; ``residual``: add the
    identity for the skip connections (the paper's Â). ``layer`` does not apply (every block's
    attention is used)."""
    out = model.fetch(images, target, ["logits", "attention"], None, batch_size)
    lowres = patch_map(rollout(out["attention"], head_fusion, residual), token_layout(model))
    return Attribution(lowres, out["logits"], lowres=lowres)
