"""SmoothGrad (Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise"): the average of a
pixel method's attributions over noisy copies of the input. Wraps any registered pixel method."""

import numpy as np

from gradcam.errors import UserError
from gradcam.methods.registry import Attribution, Cost, get_method, register
from gradcam.score import LOGIT


def noisy_copies(images, samples, noise, seed=0):
    """[samples * N, ...] copies of ``images`` plus Gaussian noise whose std is ``noise`` times each
    image's value range (max - min), as in the paper (sample-major: rows k*N .. k*N+N-1 are sample
    k of every image). Every image gets the same ``seed``-drawn noise pattern, scaled by its own
    std, so an image's result does not depend on the other images of the call or their order."""
    if samples < 1:
        raise UserError(f"smoothgrad: samples must be at least 1, got {samples}")
    if noise < 0:
        raise UserError(f"smoothgrad: noise must be >= 0, got {noise}")
    images = np.asarray(images, np.float32)
    if noise == 0:
        return np.tile(images, (samples,) + (1,) * (images.ndim - 1))
    axes = tuple(range(1, images.ndim))
    std = (noise * (images.max(axis=axes) - images.min(axis=axes))).astype(np.float32)
    pattern = np.random.default_rng(seed).standard_normal(
        (samples, 1) + images.shape[1:], dtype=np.float32
    )
    copies = pattern * std.reshape((1, -1) + (1,) * (images.ndim - 1))  # [samples, N, ...]
    copies += images[None]  # in place: no 2nd copy of all
    return copies.reshape((samples * len(images),) + images.shape[1:])


def average_samples(raw, samples, squared=False):
    """Mean over the sample axis of sample-major attributions [samples * N, ...] -> [N, ...]."""
    raw = np.asarray(raw).reshape((samples, -1) + np.shape(raw)[1:])
    # accumulate in float64 without a float64 copy of all samples
    return (np.square(raw) if squared else raw).mean(axis=0, dtype=np.float64).astype(np.float32)


def _cost(options, image_size):
    inner = get_method(options["inner"]).passes({}, image_size)
    return Cost(inner.passes, int(options["samples"]) * inner.images)


@register(
    "smoothgrad",
    display="magnitude",
    title="SmoothGrad",
    cost=_cost,
    smoke={"samples": 2},
    budget={"samples": 8},
)
def smoothgrad(
    model,
    images,
    target,
    layer=None,
    batch_size=32,
    score=LOGIT,
    inner="gradient",
    samples=25,
    noise=0.15,
    squared=False,
    seed=0,
    **inner_options,
):
    """All noisy copies go through ``inner`` in one batched call; extra options go to ``inner``."""
    method = get_method(inner)
    if method.display != "magnitude" or method.name == "smoothgrad":
        raise UserError(
            f"smoothgrad: inner method must be a pixel method other than smoothgrad, got {inner!r}"
        )
    method.check_options(inner_options)
    images = np.asarray(images, np.float32)
    target = model.check_target(target, len(images))
    copies = noisy_copies(images, int(samples), float(noise), seed)
    kwargs = dict(inner_options, batch_size=batch_size, score=score)
    if layer is not None:
        kwargs["layer"] = layer
    out = method.fn(model, copies, np.tile(target, int(samples)), **kwargs)
    logits = out.logits[: len(images)] if noise == 0 else model.predict(images, batch_size)
    return Attribution(raw=average_samples(out.raw, int(samples), squared), logits=logits)
