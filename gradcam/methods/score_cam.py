"""Score-CAM (Wang et al. 2020, "Score-CAM: Score-Weighted Visual Explanations for Convolutional
Neural Networks"): each activation channel, upsampled and normalised to [0, 1], masks the input;
the channel's weight is the gain in target probability over a black image.

Score-CAM always scores with the probability (its definition): it is registered with
``score_kind="probability"``, so a logit score asked of it is read as the probability; a contrast
class applies: the gain in p_target - p_contrast."""

import numpy as np

from gradcam.arrays import batch_slices, class_scores, distinct_rows, normalize, upsample
from gradcam.fetch_keys import ACTIVATIONS, LOGITS, PROBABILITIES
from gradcam.methods.cam_math import weighted_sum
from gradcam.methods.registry import Attribution, Cost, register
from gradcam.score import LOGIT, Score


def top_channels(activations, count):
    """Indices of the ``count`` channels of [h, w, c] with the highest mean activation."""
    return np.argsort(-activations.mean(axis=(0, 1)), kind="stable")[:count]


def channel_masks(activations, size):
    """Channels [h, w, k] -> upsampled masks [k, size, size] in [0, 1] (constant channel -> 0)."""
    return normalize(upsample(np.moveaxis(activations, -1, 0), size))


def probabilities(model, images, batch_size):
    return model.fetch(images, keys=[PROBABILITIES], batch_size=batch_size)[PROBABILITIES]


@register(
    "score_cam",
    display="positive",
    title="Score-CAM",
    lowres=True,
    score_kind="probability",
    smoke={"max_channels": 4},
    budget={"max_channels": 32},
    cost=lambda options, size: Cost("forward", 2 + int(options["max_channels"])),
)
def score_cam(model, images, target, layer=None, batch_size=32, score=LOGIT, max_channels=64):
    """At most ``max_channels`` channels per image (highest mean activation); masks run batched.
    Rows that repeat one image (several targets) share its masked copies: one forward of each
    copy scores every class."""
    images = np.asarray(images, np.float32)
    target = model.check_target(target, len(images))
    firsts, index = distinct_rows(images)
    out = model.fetch(images[firsts], None, [LOGITS, ACTIVATIONS], layer, batch_size)
    black = probabilities(model, np.zeros_like(images[:1]), 1)[0]
    masked = []
    for image, act in zip(images[firsts], out[ACTIVATIONS]):
        keep = top_channels(act, int(max_channels))
        masks = channel_masks(act[..., keep], model.input_size)
        masked.append(
            (
                keep,
                np.concatenate(
                    [
                        probabilities(model, image[None] * masks[s, ..., None], batch_size)
                        for s in batch_slices(len(masks), batch_size)
                    ]
                ),
            )
        )
    gain = Score(kind="probability", contrast=score.contrast)  # its definition: see the module
    weights = np.zeros((len(images), out[ACTIVATIONS].shape[-1]))
    for n, (d, t) in enumerate(zip(index, target)):
        keep, scores = masked[d]
        weights[n, keep] = class_scores(scores, t, gain.contrast) - class_scores(
            black[None], t, gain.contrast
        )
    lowres = weighted_sum(out[ACTIVATIONS][index], weights)
    return Attribution(raw=lowres, logits=out[LOGITS][index], lowres=lowres)
