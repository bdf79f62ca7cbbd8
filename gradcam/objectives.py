"""Activation-maximisation objectives (Erhan et al. 2009, "Visualizing Higher-Layer Features of a
Deep Network"): the mean of one channel of a layer, or its value at one position (a unit), and
their gradients with respect to the input pixels, built once per (model, layer) beside the
model's own pieces (``Model.build_once``). ``gradcam.maximize`` ascends them."""

from gradcam.errors import UserError
from gradcam.fetch_keys import ACTIVATIONS, INPUT_GRADIENTS
from nets.tf_compat import tf


def unit_gradients(model, images, layer: str, channel: int, unit=None) -> dict:
    """The mean over positions of ``channel`` of ``layer`` (or, with ``unit`` = (y, x), its value
    there) and its gradient with respect to the input pixels of network-input ``images``:
    {"objective": [N], "input_gradients": [N, S, S, 3]}."""
    activations = model.tensors([ACTIVATIONS], layer)[ACTIVATIONS]
    _, height, width, channels = activations.shape.as_list()
    if not 0 <= channel < channels:
        raise UserError(f"channel {channel} out of range 0..{channels - 1} for layer {layer!r}")
    if unit is not None and not (0 <= unit[0] < height and 0 <= unit[1] < width):
        raise UserError(f"unit {tuple(unit)} outside the {height} x {width} map of layer {layer!r}")
    pieces = model.build_once(
        ("unit", layer), lambda: _unit_objectives(activations, model.input_tensor)
    )
    which = "unit" if unit is not None else "mean"
    feeds = {pieces["channel"]: int(channel), model.input_tensor: model.check_images(images)}
    if unit is not None:
        feeds[pieces["position"]] = [int(unit[0]), int(unit[1])]
    fetches = {"objective": pieces[which], INPUT_GRADIENTS: pieces[f"{which}_gradients"]}
    return model.session.run(fetches, feeds)


def _unit_objectives(activations, pixels):
    channel = tf.placeholder(tf.int32, [], "channel")
    position = tf.placeholder_with_default([0, 0], [2], "unit")
    chosen = tf.gather(activations, channel, axis=-1)  # [N, h, w]
    mean = tf.reduce_mean(chosen, axis=[1, 2])
    unit = tf.gather(tf.gather(chosen, position[0], axis=1), position[1], axis=1)
    return {
        "channel": channel,
        "position": position,
        "mean": mean,
        "unit": unit,
        "mean_gradients": tf.gradients(mean, pixels)[0],
        "unit_gradients": tf.gradients(unit, pixels)[0],
    }
