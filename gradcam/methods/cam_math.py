"""Channel weightings of the CAM family and their one shared weighted sum (pure numpy).

A CAM variant differs only in how it weighs the channels of a feature map A [N, h, w, c]:
- Grad-CAM (Selvaraju et al. 2017): w_c = mean over positions of dY/dA.
- CAM (Zhou et al. 2016): w_c = the class's weight in the final linear layer after GAP.
- Grad-CAM++ (Chattopadhay et al. 2018): see ``gradcam_pp_weights``.
- Score-CAM (Wang et al. 2020): the target probability gained by keeping each channel (score_cam.py).
- XGrad-CAM (Fu et al. 2020, "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation
  of CNNs"): w_c = sum_xy(g * A) / sum_xy(A), the gradient averaged with the activation's own
  weights; for a score homogeneous of degree 1 in A, sum_xy of the map equals the score
  (conservation). See ``xgradcam_weights`` for a channel whose activations sum to 0.
- Ablation-CAM (Desai & Ramaswamy 2020, "Ablation-CAM: Visual Explanations for Deep Convolutional
  Network via Gradient-free Localization"): w_c = (y - y_c) / y, y the target score and y_c the
  score with channel c zeroed; see ``ablation_weights`` (we divide by |y|) and ``ablated_copies``.

Two variants weigh each position, not each channel (maps [N, h, w], no ``weighted_sum``):
- LayerCAM (Jiang et al. 2021, "LayerCAM: Exploring Hierarchical Class Activation Maps for
  Localization"): sum_c relu(g) * A.
- HiResCAM (Draelos & Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful explanations of
  convolutional neural networks"): sum_c g * A. With gradients constant over positions (a GAP +
  linear head) it is Grad-CAM exactly, and h * w times it is CAM.

And one uses no score at all:
- Eigen-CAM (Muhammad & Yeasin 2020, "Eigen-CAM: Class Activation Map using Principal
  Components"): the activations as a positions x channels matrix, projected on their first
  principal direction. The paper factorises the matrix as it is; we centre each channel over the
  positions first (principal components proper, as pytorch-grad-cam does), and fix the sign the
  SVD leaves free (see ``eigencam_map``).

Every map here is raw, before ReLU: the display step rectifies, upsamples and normalises.
"""

from collections.abc import Iterator
from typing import Optional

import numpy as np

from gradcam.errors import UserError


def weighted_sum(activations, weights):
    """sum_c weights[n, c] * activations[n, :, :, c], starting from zero -> [N, h, w].

    The Hive write-up's code starts this sum from ones, which adds a constant 1 to every position
    and so raises the floor of the map after ReLU and normalisation; we start from zero.
    """
    return np.einsum(
        "nhwc,nc->nhw", np.asarray(activations, np.float64), np.asarray(weights, np.float64)
    ).astype(np.float32)


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


def layercam_map(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """LayerCAM: sum_c relu(g) * A at each position.

    Args:
        activations: A [N, h, w, c].
        gradients: g = dY/dA [N, h, w, c].
    Returns:
        The raw map [N, h, w] float32 (before ReLU).
    """
    return hirescam_map(activations, np.maximum(np.asarray(gradients, np.float64), 0.0))


def hirescam_map(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """HiResCAM: sum_c g * A at each position.

    Args:
        activations: A [N, h, w, c].
        gradients: g = dY/dA [N, h, w, c].
    Returns:
        The raw map [N, h, w] float32 (before ReLU).
    """
    return np.einsum(
        "nhwc,nhwc->nhw", np.asarray(activations, np.float64), np.asarray(gradients, np.float64)
    ).astype(np.float32)


def xgradcam_weights(
    activations: np.ndarray, gradients: np.ndarray, eps: float = 1e-12
) -> np.ndarray:
    """XGrad-CAM weights: sum_xy(g * A) / sum_xy(A), one per channel.

    The formula presumes non-negative activations (after a ReLU), where a sum of 0 means the
    channel is zero everywhere and adds nothing to the map whatever its weight. A channel whose
    |sum_xy(A)| <= ``eps`` gets weight 0, never inf or NaN (with signed activations the ratio is
    then undefined, and 0 leaves the channel out).

    Args:
        activations: A [N, h, w, c].
        gradients: g = dY/dA [N, h, w, c].
        eps: the smallest |sum_xy(A)| divided by.
    Returns:
        Weights [N, c] float64, for ``weighted_sum``.
    """
    a = np.asarray(activations, np.float64)
    total = a.sum(axis=(1, 2))
    safe = np.abs(total) > eps
    return np.where(
        safe,
        (a * np.asarray(gradients, np.float64)).sum(axis=(1, 2)) / np.where(safe, total, 1.0),
        0.0,
    )


def orient_like(maps: np.ndarray, references: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Flip the sign of each map so that it correlates positively with its reference.

    For a map whose sign is arbitrary (a principal direction): the result satisfies
    sum_xy map * (reference - mean(reference)) >= 0. When that correlation vanishes
    (|corr| <= ``eps`` * ||map|| * ||centred reference||, e.g. a constant reference), the entry of
    largest magnitude (the first in row-major order on a tie) is made positive instead.

    Args:
        maps: [N, h, w].
        references: [N, h, w], e.g. the mean activation over channels.
        eps: relative size below which a correlation counts as 0.
    Returns:
        +maps or -maps, per map, [N, h, w] float64.
    """
    maps = np.asarray(maps, np.float64)
    ref = np.asarray(references, np.float64)
    ref = ref - ref.mean(axis=(1, 2), keepdims=True)
    corr = (maps * ref).sum(axis=(1, 2))
    scale = np.sqrt((maps**2).sum(axis=(1, 2)) * (ref**2).sum(axis=(1, 2)))
    flat = maps.reshape(len(maps), -1)
    largest = flat[np.arange(len(flat)), np.abs(flat).argmax(axis=1)]
    sign = np.where(np.abs(corr) > eps * scale, np.sign(corr), np.where(largest < 0, -1.0, 1.0))
    return maps * sign[:, None, None]


def eigencam_map(activations: np.ndarray) -> np.ndarray:
    """Eigen-CAM: the centred activations projected on their first principal direction.

    Per image, X = A as a (h*w) x c matrix with each channel's mean over the positions
    subtracted; with X = U S V^T, the map is X v_1 = s_1 u_1 as [h, w]. It is computed from the
    eigendecomposition of the smaller Gram matrix (X X^T or X^T X, whose top eigenvalue is s_1^2):
    the same vector as numpy's SVD, some 30x faster for 49 positions x 1280 channels. Its sign is
    fixed by ``orient_like`` against the mean activation over channels (pytorch-grad-cam leaves it
    to the SVD). Activations constant over the positions have no principal direction: when s_1 is
    within rounding of 0 (s_1 <= max(h*w, c) * float64 eps * max|A|) the map is all zeros.

    Args:
        activations: A [N, h, w, c].
    Returns:
        The raw map [N, h, w] float32 (before ReLU).
    """
    a = np.asarray(activations, np.float64)
    n, h, w, c = a.shape
    x = a.reshape(n, h * w, c)
    x = x - x.mean(axis=1, keepdims=True)
    xt = np.swapaxes(x, 1, 2)
    values, vectors = np.linalg.eigh(x @ xt if h * w <= c else xt @ x)  # ascending eigenvalues
    top = vectors[:, :, -1]
    projection = top if h * w <= c else np.einsum("npc,nc->np", x, top)
    first = np.sqrt(np.maximum(values[:, -1], 0.0))
    if h * w <= c:
        projection = first[:, None] * projection
    rounding = max(h * w, c) * np.finfo(np.float64).eps * np.abs(a).reshape(n, -1).max(axis=1)
    projection = np.where((first > rounding)[:, None], projection, 0.0)
    return orient_like(projection.reshape(n, h, w), a.mean(axis=-1)).astype(np.float32)


def ablation_weights(
    scores: np.ndarray, ablated_scores: np.ndarray, eps: float = 1e-12
) -> np.ndarray:
    """Ablation-CAM weights: (y - y_c) / |y|, one per channel.

    The paper divides by y; we divide by |y|: the same for a positive score, and for a negative
    one (a logit can be) a channel whose removal lowers the score keeps a positive weight instead
    of the whole map flipping sign. Where |y| <= ``eps`` the relative drop is undefined and the
    weights are the plain drops y - y_c (they keep the map's shape, all the display uses).

    Args:
        scores: y [N], the target score of each image.
        ablated_scores: y_c [N, c], the target score with channel c of the layer zeroed.
        eps: the smallest |y| divided by.
    Returns:
        Weights [N, c] float64, for ``weighted_sum``.
    """
    y = np.asarray(scores, np.float64)[:, None]
    drops = y - np.asarray(ablated_scores, np.float64)
    return drops / np.where(np.abs(y) > eps, np.abs(y), 1.0)


def ablated_copies(
    activations: np.ndarray, chunk: int = 64, channels: Optional[np.ndarray] = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Copies of one image's activations, each with one channel zeroed, ``chunk`` at a time, so
    memory stays at chunk * h * w * c whatever c is (2048 for a ResNet-50).

    Args:
        activations: [h, w, c] activations of one image.
        chunk: at most this many copies per item; below 1 is a UserError, raised at the call.
        channels: the channels to ablate, in order (default every channel).
    Returns:
        An iterator of (indices [k], copies [k, h, w, c]): copies[i] is ``activations`` with
        channel indices[i] set to 0, in the dtype of ``activations``.
    """
    if int(chunk) < 1:
        raise UserError(f"the ablation chunk must be at least 1, got {chunk}")
    activations = np.asarray(activations)
    channels = np.arange(activations.shape[-1]) if channels is None else np.asarray(channels, int)
    return _ablated_chunks(activations, channels, int(chunk))


def _ablated_chunks(activations, channels, chunk):
    for start in range(0, len(channels), chunk):
        indices = channels[start : start + chunk]
        copies = np.repeat(activations[None], len(indices), axis=0)
        copies[np.arange(len(indices)), :, :, indices] = 0
        yield indices, copies
