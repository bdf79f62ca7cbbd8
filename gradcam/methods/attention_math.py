"""Numpy shared by the attention methods: head fusion, and a relevance row over tokens as a map
of the patch grid."""

import numpy as np

from gradcam.errors import UserError

HEAD_FUSIONS = {"mean": np.mean, "max": np.max, "min": np.min}


def fuse_heads(attention, head_fusion):
    """[N, B, H, T, T] -> [N, B, T, T] by the mean, max or min over the heads."""
    if head_fusion not in HEAD_FUSIONS:
        raise UserError(f"unknown head_fusion {head_fusion!r}; valid: {', '.join(HEAD_FUSIONS)}")
    return HEAD_FUSIONS[head_fusion](np.asarray(attention, np.float64), axis=2)


def token_layout(model):
    """The ``TokenGrid`` of the model's attention (UserError for a model without attention)."""
    layout = getattr(model, "attention_tokens", None)
    if layout is None:
        raise UserError(
            f"{model.name} has no attention blocks whose tokens make a patch grid; the attention "
            "methods explain vision transformers"
        )
    return layout


def patch_map(relevance, layout):
    """Relevance [N, T, T] (row i: how much each token feeds token i) -> [N, h, w]: the row of the
    first prefix token (the class token) over the patch tokens, or, without prefix tokens, the
    mean of all rows."""
    relevance = np.asarray(relevance, np.float64)
    k = layout.prefix
    rows = relevance[:, 0, k:] if k else relevance.mean(axis=1)
    return rows.reshape(len(relevance), *layout.grid).astype(np.float32)
