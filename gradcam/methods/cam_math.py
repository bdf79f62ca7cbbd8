"""Channel weightings of the CAM family and their one shared weighted sum (pure numpy).

A CAM variant differs only in how it weighs the channels of a feature map A [N, h, w, c]:
- Grad-CAM (Selvaraju et al. 2017): w_c = mean over positions of dY/dA.
- CAM (Zhou et al. 2016): w_c = the class's weight in the final linear layer after GAP.
- Grad-CAM++ (Chattopadhay et al. 2018): see ``gradcam_pp_weights``.
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
