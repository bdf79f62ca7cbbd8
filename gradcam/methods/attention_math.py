"""Numpy shared by the attention methods: head fusion, and a relevance row over tokens as a map
of the patch grid."""

import numpy as np

from gradcam.errors import UserError

HEAD_FUSIONS = ("mean", "max", "min")


def fuse_heads(attention, head_fusion):
    """[N, B, H, T, T] -> [N, B, T, T] by the mean, max or min over the heads (in the arrays'
    precision; the products through the blocks are taken in float64)."""
    if head_fusion not in HEAD_FUSIONS:
        raise UserError(f"unknown head_fusion {head_fusion!r}; valid: {', '.join(HEAD_FUSIONS)}")
    attention = np.asarray(attention)
    if head_fusion == "mean":  # a sum scaled in place: np.mean's own division is a second pass
        fused = attention.sum(axis=2)
        fused *= fused.dtype.type(1.0 / attention.shape[2])
        return fused
    return {"max": np.max, "min": np.min}[head_fusion](attention, axis=2)


def read_out(layout, count, n):
    """Row vectors [N, T] that read a relevance matrix R [T, T] the way the map is read: the first
    prefix token's row (the class token), or, without prefix tokens, the mean of all rows."""
    start = np.zeros((n, count))
    if layout.prefix:
        start[:, 0] = 1.0
    else:
        start[:] = 1.0 / count
    return start


def through_blocks(start, steps):
    """start^T (I + M_B) ... (I + M_1) for per-block matrices ``steps`` [N, B, T, T] (input side
    first), as vector-matrix products from the last block back: [N, T] in float64, without
    forming the product."""
    rows = start
    for block in reversed(range(steps.shape[1])):
        rows = rows + np.einsum("ni,nij->nj", rows, steps[:, block].astype(np.float64))
    return rows


def token_layout(model):
    """The ``TokenGrid`` of the model's attention (UserError for a model without attention)."""
    layout = model.attention_tokens
    if layout is None:
        raise UserError(
            f"{model.name} has no attention blocks whose tokens make a patch grid; the attention "
            "methods explain vision transformers"
        )
    return layout


def patch_map(rows, layout):
    """Relevance rows [N, T] over tokens -> [N, h, w]: the patch tokens' entries on the grid."""
    rows = np.asarray(rows, np.float64)[:, layout.prefix :]
    return rows.reshape(len(rows), *layout.grid).astype(np.float32)
