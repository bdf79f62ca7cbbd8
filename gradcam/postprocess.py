"""The display step, kept apart from the raw maps: what a method's output shows as evidence, and
its [0, 1] display map.

A method declares its display (``gradcam.methods.registry``, captum's ``VisualizeSign`` idea):
"positive" for a map [N, h, w], shown rectified (ReLU) and upsampled bilinearly to the input
size; "magnitude" for a per-pixel attribution [N, H, W, C], shown as its absolute value summed
over colours. Resolution is read from the array: a map already at the input size is not resized
(and a display may be asked of either shape: ``Explanation.overlay(display=)``).
``evidence`` is that one step (``gradcam.explain``, the comparison figures, the box evaluation and
the sanity checks all call it), ``display_map`` its normalised form. All functions take batches
and are pure numpy, testable without TF.
"""

import warnings

import numpy as np

from gradcam.arrays import EPSILON, frame_shape, normalize, relu, upsample

STYLES = ("heatmap", "shading", "blur")  # how a map is drawn over its image (visualize.overlay)
DISPLAYS = ("positive", "magnitude")


def evidence(raw, display, size=None, percentile=99.0):
    """A method's evidence before normalisation, one map [N, H, W] per row of ``raw``.

    Args:
        raw: the method's output: maps [N, h, w], or per-pixel attributions [N, H, W, C] (the
            colour axis is read from the array).
        display: "positive": maps rectified (ReLU) before upsampling, per-pixel attributions
            summed over colours and rectified; "magnitude": per-pixel attributions as |.| summed
            over colours (clipped at ``percentile``), maps as |.| after upsampling.
        size: S or (H, W), the frame maps are upsampled to (bilinear); None keeps their own
            resolution. Per-pixel attributions are at input resolution already.
        percentile: where a per-pixel magnitude is clipped (a few extreme pixels otherwise wash
            out the rest); None: unclipped (the absolute values Adebayo et al.'s sanity checks
            compare).

    Returns:
        float32 [N, H, W], non-negative.
    """
    if display not in DISPLAYS:
        raise ValueError(f"display must be one of {DISPLAYS}, got {display!r}")
    raw = np.asarray(raw, np.float32)
    pixels = raw.ndim == 4
    if display == "magnitude" and pixels:
        total = np.abs(raw).sum(axis=-1)
        if percentile is None:
            return total
        return np.minimum(total, np.percentile(total, percentile, axis=(1, 2), keepdims=True))
    resize = size is not None and raw.shape[1:3] != frame_shape(size)
    if display == "magnitude":
        return np.abs(upsample(raw, size) if resize else raw)
    maps = relu(raw.sum(axis=-1) if pixels else raw)
    return upsample(maps, size) if resize else maps


def display_map(raw, display, size, percentile=99.0):
    """The [0, 1] map shown over the image: ``evidence`` at ``size``, each map normalised."""
    return normalize(evidence(raw, display, size, percentile=percentile))


def cam_map(lowres, size):
    """Grad-CAM's display map: ReLU, bilinear upsample to the input size, normalise."""
    return display_map(lowres, "positive", size)


def gradient_map(gradients, percentile=99.0):
    """Pixel-attribution display map: the magnitude ``evidence`` normalised to [0, 1]."""
    return display_map(gradients, "magnitude", None, percentile)


def normalize_jointly(maps, eps=EPSILON):
    """Scale a stack of maps to [0, 1] by their common min and max (one colour scale for all);
    a stack without signal becomes all zeros, never NaN."""
    maps = np.asarray(maps, np.float32)
    return normalize(maps.reshape(1, len(maps) * maps.shape[1], -1), eps).reshape(maps.shape)


def is_degenerate(maps, eps=EPSILON):
    """Per map: True when it carries no signal (constant), so it is not normalised into noise."""
    maps = np.asarray(maps)
    return (maps.max(axis=(1, 2)) - maps.min(axis=(1, 2))) <= eps


def one_colour(images):
    """bool [N]: images with one colour in every pixel. A sparse grid of pixels decides most
    images (any pixel differing from the first); only the rest are compared in full."""
    first = images[:, :1, :1]
    candidate = (images[:, ::16, ::16] == first).reshape(len(images), -1).all(axis=1)
    constant = np.zeros(len(images), bool)
    for i in np.flatnonzero(candidate):
        constant[i] = bool((images[i] == first[i]).all())
    return constant


def flag_degenerate(method, images, display, void=None):
    """(display maps, degenerate flags): maps of constant images (no evidence at all) and ``void``
    rows (bool [N], already explained to the user) are set to zero; they and maps without signal
    are flagged, with one warning per cause. The warnings point at the caller of
    ``explain``/``explain_many`` (both reach here through ``_display``)."""
    constant = one_colour(images)
    void = np.zeros(len(display), bool) if void is None else void
    display = np.where((constant | void)[:, None, None], np.float32(0), display)
    empty = is_degenerate(display) & ~constant & ~void
    if constant.any():
        warnings.warn(
            f"{method}: {int(constant.sum())} of {len(display)} images are constant "
            "(one colour everywhere, nothing to explain): their maps are all zero",
            stacklevel=4,
        )
    if empty.any():
        warnings.warn(
            f"{method}: {int(empty.sum())} of {len(display)} maps are all zero "
            "(no evidence for the target at this layer)",
            stacklevel=4,
        )
    return display, constant | empty | void
