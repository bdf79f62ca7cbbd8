"""Channel weightings of the CAM family and their one shared weighted sum (pure numpy).

A CAM variant differs only in how it weighs the channels of a feature map A [N, h, w, c]:
- Grad-CAM (Selvaraju et al. 2017): w_c = mean over positions of dY/dA.
- CAM (Zhou et al. 2016): w_c = the class's weight in the final linear layer after GAP.
- Grad-CAM++ (Chattopadhay et al. 2018): see ``gradcam_pp_weights``.
- Score-CAM (Wang et al. 2020): the target probability gained by keeping each channel (score_cam.py).
"""
import numpy as np


def weighted_sum(activations, weights):
    """sum_c weights[n, c] * activations[n, :, :, c], starting from zero -> [N, h, w].

    The Hive write-up's code starts this sum from ones, which adds a constant 1 to every position
    and so raises the floor of the map after ReLU and normalisation; we start from zero.
    """
    return np.einsum("nhwc,nc->nhw", np.asarray(activations, np.float64),
                     np.asarray(weights, np.float64)).astype(np.float32)


def gradcam_weights(gradients):
    """Global-average-pooled gradients [N, c]."""
    return np.asarray(gradients, np.float64).mean(axis=(1, 2))


def gradcam_pp_weights(activations, gradients, eps=1e-12):
    """Grad-CAM++ weights [N, c] from A and g = dY/dA ([N, h, w, c]).

    With the score passed through exp, the higher-order derivatives are powers of g, giving
    alpha = g^2 / (2 g^2 + sum_ab A g^3); positions where that denominator vanishes get alpha 0.
    w_c = sum_ab alpha * relu(g).
    """
    a = np.asarray(activations, np.float64)
    g = np.asarray(gradients, np.float64)
    g2 = g * g  # products, not powers: np.power with exponent 3 is ~50x slower
    denominator = 2.0 * g2 + a.sum(axis=(1, 2), keepdims=True) * g2 * g
    safe = np.abs(denominator) > eps
    alpha = np.where(safe, g2 / np.where(safe, denominator, 1.0), 0.0)
    return (alpha * np.maximum(g, 0.0)).sum(axis=(1, 2))
