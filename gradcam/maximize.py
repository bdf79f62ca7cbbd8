"""Activation maximisation (Erhan et al. 2009, "Visualizing Higher-Layer Features of a Deep
Network"; class model visualisation: Simonyan et al. 2013, "Deep Inside Convolutional Networks"):
gradient ascent on the input pixels for a class logit, the mean of one end-point channel, or one
unit (a channel at one position), kept natural-looking by L2 decay, random jitter and periodic
Gaussian blur.

Not an image -> map method, so it is not in the method registry; ``gradcam maximize`` runs it.
The channel and unit objectives are graph pieces of the model layer (``gradcam.objectives``).
"""

from dataclasses import dataclass

import numpy as np

from gradcam.errors import UserError
from gradcam.fetch_keys import INPUT_GRADIENTS, SCORE
from gradcam.objectives import unit_gradients
from gradcam.substitutes import gaussian_blur

MID_GREY = 127.5


@dataclass
class Visualisation:
    image: np.ndarray  # uint8 H x W x 3 (the network input)
    objective: np.ndarray  # objective before each step and after the last, [steps + 1]


def _objective_fn(model, target, layer, channel, unit):
    """x [1, S, S, 3] -> (objective [1], its input gradient) for a class logit, a layer channel or
    one unit."""
    if (target is None) == (layer is None):
        raise UserError("maximize needs either a class or a layer and channel")
    if target is not None:

        def class_logit(x):
            out = model.fetch(x, [target], [SCORE, INPUT_GRADIENTS])
            return out[SCORE], out[INPUT_GRADIENTS]

        return class_logit

    def channel_value(x):
        out = unit_gradients(model, x, layer, channel, unit)
        return out["objective"], out[INPUT_GRADIENTS]

    return channel_value


def maximize(
    model,
    target=None,
    layer=None,
    channel=0,
    steps=200,
    learning_rate=2.0,
    l2_decay=1e-3,
    jitter=8,
    blur_every=4,
    blur_sigma=0.5,
    seed=0,
    unit=None,
):
    """Synthesise an image maximising class ``target``'s logit, or channel ``channel`` of ``layer``
    (its mean over positions, or with ``unit`` = (y, x) its value at that position).

    Each step: shift the image by a random jitter, take the gradient, ascend by ``learning_rate``
    pixel units per unit of mean |gradient|, shrink towards mid-grey by ``l2_decay``, and blur
    every ``blur_every`` steps with ``blur_sigma`` pixels.
    """
    if steps < 1:
        raise UserError(f"steps must be at least 1, got {steps}")
    evaluate = _objective_fn(model, target, layer, channel, unit)
    rng = np.random.default_rng(seed)
    centred = rng.normal(0.0, 8.0, (*model.input_size, 3)).astype(np.float32)
    history = []
    for step in range(int(steps)):
        dy, dx = rng.integers(-jitter, jitter + 1, 2) if jitter else (0, 0)
        objective, gradient = evaluate(np.roll(centred, (dy, dx), (0, 1))[None] + MID_GREY)
        history.append(float(objective[0]))
        gradient = np.roll(gradient[0], (-dy, -dx), (0, 1))
        centred += learning_rate * gradient / (np.abs(gradient).mean() + 1e-12)
        centred *= 1.0 - l2_decay
        if blur_every and (step + 1) % blur_every == 0:
            centred = gaussian_blur(centred, blur_sigma)
        centred = np.clip(centred, -MID_GREY, MID_GREY)
    history.append(float(evaluate(centred[None] + MID_GREY)[0][0]))
    image = np.clip(np.round(centred + MID_GREY), 0, 255).astype(np.uint8)
    return Visualisation(image, np.asarray(history))
