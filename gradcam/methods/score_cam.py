"""Score-CAM (Wang et al. 2020, "Score-CAM: Score-Weighted Visual Explanations for Convolutional
Neural Networks"): each activation channel, upsampled and normalised to [0, 1], masks the input;
the channel's weight is the gain in target probability over a black image."""
import numpy as np

from gradcam import postprocess
from gradcam.methods.cam_math import weighted_sum
from gradcam.methods.registry import Attribution, register


def top_channels(activations, count):
    """Indices of the ``count`` channels of [h, w, c] with the highest mean activation."""
    return np.argsort(-activations.mean(axis=(0, 1)), kind="stable")[:count]


def channel_masks(activations, size):
    """Channels [h, w, k] -> upsampled masks [k, size, size] in [0, 1] (constant channel -> 0)."""
    return postprocess.normalize(postprocess.upsample(np.moveaxis(activations, -1, 0), size))


def probabilities(model, images, batch_size):
    return model.run({"p": model.probabilities}, images, batch_size=batch_size)["p"]


@register("score_cam", kind="cam", title="Score-CAM")
def score_cam(model, images, target, layer=None, batch_size=32, max_channels=64):
    """At most ``max_channels`` channels per image (highest mean activation); masks run batched."""
    images = np.asarray(images, np.float32)
    target = model.check_target(target, len(images))
    activation, _ = model.layer(layer)
    out = model.run({"logits": model.logits, "activations": activation}, images, batch_size=batch_size)
    black = probabilities(model, np.zeros_like(images[:1]), 1)[0]
    weights = np.zeros((len(images), out["activations"].shape[-1]))
    for n, (image, t, act) in enumerate(zip(images, target, out["activations"])):
        keep = top_channels(act, int(max_channels))
        masks = channel_masks(act[..., keep], model.image_size)
        masked = [probabilities(model, image[None] * masks[s:s + batch_size, ..., None], batch_size)
                  for s in range(0, len(masks), batch_size)]
        weights[n, keep] = np.concatenate(masked)[:, t] - black[t]
    lowres = weighted_sum(out["activations"], weights)
    return Attribution(lowres, out["logits"], lowres=lowres)
