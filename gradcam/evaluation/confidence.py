"""Average drop and increase in confidence (Chattopadhay et al. 2018, "Grad-CAM++: Generalized
Gradient-Based Visual Explanations for Deep Convolutional Networks", WACV).

The explanation map (in [0, 1]) multiplies the image pixel-wise; Y is the target's probability on
the image, O on the masked image. Average drop = mean of max(0, Y - O) / Y (lower is better);
increase in confidence = fraction of images with O > Y (higher is better). Both in percent.
"""

import numpy as np


def target_probabilities(model, images, targets, batch_size=32):
    probabilities = model.fetch(images, keys=["probabilities"], batch_size=batch_size)[
        "probabilities"
    ]
    return probabilities[np.arange(len(probabilities)), np.asarray(targets, np.int64)]


def masked_images(images, maps):
    """Images scaled pixel-wise by their [0, 1] maps."""
    return np.asarray(images, np.float32) * np.clip(np.asarray(maps, np.float32), 0, 1)[..., None]


def drop_and_increase(full, masked):
    """Per image: relative drop max(0, Y - O) / Y and whether confidence increased (O > Y)."""
    full, masked = np.asarray(full, np.float64), np.asarray(masked, np.float64)
    return np.maximum(0.0, full - masked) / np.maximum(full, 1e-12), masked > full


def average_drop_increase(model, images, maps, targets, batch_size=32):
    """Per-image ``drop`` [N] and ``increase`` [N] plus their means in percent."""
    full = target_probabilities(model, images, targets, batch_size)
    masked = target_probabilities(model, masked_images(images, maps), targets, batch_size)
    drop, increase = drop_and_increase(full, masked)
    return {
        "drop": drop,
        "increase": increase,
        "average_drop": 100.0 * float(drop.mean()),
        "increase_in_confidence": 100.0 * float(increase.mean()),
    }
