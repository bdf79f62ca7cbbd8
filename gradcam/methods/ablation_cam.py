"""Ablation-CAM (Desai & Ramaswamy 2020, "Ablation-CAM: Visual Explanations for Deep Convolutional
Network via Gradient-free Localization"): channel weight w_c = (y - y_c) / y, y the target score
and y_c the score with channel c of the layer set to zero; the map is sum_c w_c A_c.

No gradient: the layer's activations are computed once per image, then the copies with one channel
zeroed are fed to the part of the network above the layer (``Model.fetch_above``), batched, so
the cost is one forward plus one evaluation of the head per channel. We divide by |y| rather than
y (see ``cam_math.ablation_weights``). Rows that repeat one image (several targets) share its
ablated copies: one head evaluation of each copy scores every class.

A vision transformer's token layer (``gradcam.loaders.tokens``) is its map A of the patch tokens
on the patch grid plus k prefix tokens (class, distillation). Channel c is zeroed in the patch
tokens only; the prefix tokens are fed unchanged beside the map (fetch key ``prefix_tokens``).
The weight is then the score's drop when A_c, exactly the map it weighs, is removed, as the
paper defines it; and its first-order expansion, y - y_c ~ sum over the patches of
dy/dA_c * A_c, uses the same gradient with respect to the patch tokens that Grad-CAM at this
layer does. Zeroing c in the prefix tokens too (pytorch-grad-cam's ``AblationLayerVit`` ablates
the channel in every token, class token included, and uses min - 1e7 rather than 0 when the
activations are not non-negative) would credit the patch map with evidence that the class
token carries and the map does not show.

Where the network reaches the pixels around the layer (a CNN's skip connection; the residual
around a block's first normalisation, a class-token ViT's default layer), the layer's output
alone does not give the logits: each ablated copy is then fed in place of the layer's output
while the pixels feed the bypass, so the copy costs one forward of the whole network rather than
one of the head. The score y_c is then exactly the network's with channel c of that one layer
zeroed, as pytorch-grad-cam's ablation layer computes it by replacing a module's output.
"""

import numpy as np

from gradcam.arrays import distinct_rows
from gradcam.errors import UserError
from gradcam.fetch_keys import ACTIVATIONS, LOGITS, PREFIX_TOKENS
from gradcam.methods.cam_math import ablated_copies, ablation_weights, weighted_sum
from gradcam.methods.registry import Attribution, Cost, register
from gradcam.methods.score_cam import top_channels
from gradcam.score import LOGIT


def _cost(options, image_size, channels=None):
    """One head evaluation per ablated channel (the one forward below the layer comes on top; at
    a layer the pixels also reach around, each evaluation is a whole forward)."""
    limit = options["max_channels"]
    if limit is None and channels is None:
        raise ValueError("ablation_cam's cost needs the layer's channel count (channels=)")
    count = channels if limit is None else int(limit)
    return Cost("head", count if channels is None else min(count, channels))


def ablated_scores(
    model, activations, targets, channels, layer, batch_size, score, prefix=None, image=None
):
    """Scores [len(targets), len(channels)] of one image's activations [h, w, c] with each of
    ``channels`` zeroed, for each target class (one head evaluation per channel); ``prefix``: a
    token layer's prefix tokens [k, c] of the image, fed unchanged with every copy; ``image``:
    its pixels [H, W, 3], for the paths around the layer (``Model.fetch_above``)."""
    scores = np.empty((len(targets), len(channels)), np.float64)
    done = 0
    for indices, copies in ablated_copies(activations, batch_size, channels):
        same = None if prefix is None else np.broadcast_to(prefix, (len(copies), *prefix.shape))
        pixels = None if image is None else np.broadcast_to(image, (len(copies), *image.shape))
        logits = model.fetch_above(
            copies, None, [LOGITS], layer, batch_size, prefix=same, images=pixels
        )[LOGITS]
        for row, t in enumerate(targets):
            scores[row, done : done + len(indices)] = score.of(logits, t, model.activation)
        done += len(indices)
    return scores


@register(
    "ablation_cam",
    display="positive",
    title="Ablation-CAM",
    lowres=True,
    cost=_cost,
    smoke={"max_channels": 8},
)
def ablation_cam(model, images, target, layer=None, batch_size=32, score=LOGIT, max_channels=None):
    """``max_channels``: ablate only that many channels (highest mean activation; the others weigh
    0); None = every channel, as the paper. Of a token layer, channels are zeroed in its map and
    the prefix tokens fed unchanged; at a layer the pixels also reach around, the network runs
    whole per copy (module docstring)."""
    if max_channels is not None and int(max_channels) < 1:
        raise UserError(f"ablation_cam: max_channels must be at least 1, got {max_channels}")
    images = np.asarray(images, np.float32)
    target = model.check_target(target, len(images))
    firsts, index = distinct_rows(images)
    out = model.fetch(images[firsts], None, [LOGITS, ACTIVATIONS, PREFIX_TOKENS], layer, batch_size)
    scores = score.of(out[LOGITS][index], target, model.activation)
    ablated = np.repeat(scores[:, None].astype(np.float64), out[ACTIVATIONS].shape[-1], axis=1)
    for d, activations in enumerate(out[ACTIVATIONS]):
        rows = np.flatnonzero(index == d)
        channels = (
            np.arange(activations.shape[-1])
            if max_channels is None
            else np.sort(top_channels(activations, int(max_channels)))
        )
        prefix = out[PREFIX_TOKENS][d]
        ablated[np.ix_(rows, channels)] = ablated_scores(
            model,
            activations,
            target[rows],
            channels,
            layer,
            batch_size,
            score,
            prefix if len(prefix) else None,
            images[firsts[d]],
        )
    lowres = weighted_sum(out[ACTIVATIONS][index], ablation_weights(scores, ablated))
    return Attribution(raw=lowres, logits=out[LOGITS][index], lowres=lowres)
