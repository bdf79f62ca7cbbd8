"""What ``explain`` is given, made into what the network sees: images (paths, PIL images, photos,
batches) into N x H x W x 3 network inputs, and targets (names, indices, lists) into one class
index per row."""

from collections.abc import Sequence
from os import PathLike
from typing import Optional, Union

import numpy as np
from PIL import Image

from gradcam.errors import UserError
from gradcam.images import image_array, load_image

ImageInput = Union[str, PathLike, Image.Image, np.ndarray, Sequence]
TargetInput = Union[None, int, str, Sequence]


def network_inputs(
    model, images: ImageInput, central_fraction: Optional[float] = None
) -> np.ndarray:
    """N x H x W x 3 network-input pixels from a path, a PIL image, an H x W x 3 uint8 photo (each
    prepared as the CLI prepares it), a list of those, or an N x H x W x 3 batch (used as given)."""
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return images
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    if not items:
        raise UserError("no images given")
    return np.stack([model.prepare(photo_array(item), central_fraction) for item in items])


def photo_array(item):
    """RGB uint8 H x W x 3 of one image given as a path, a PIL image or an array."""
    if isinstance(item, (str, PathLike)):
        return load_image(item)
    if isinstance(item, Image.Image):
        return image_array(item)
    photo = np.asarray(item)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise UserError(
            f"an image array must be an H x W x 3 uint8 photo (or an N x H x W x 3 "
            f"batch of network inputs), got {photo.dtype} {photo.shape}"
        )
    return photo


def resolve_targets(model, images, target: TargetInput):
    """(images, target): ``target`` as class indices, one per image, or None (top class).

    A class name or index applies to every image; a list gives one per image, or, for a single
    image, several classes of it (the image is repeated, one row per class)."""
    if target is None:
        return images, None
    if isinstance(target, (str, int, np.integer)):
        target = [target]
    indices = [
        int(t) if isinstance(t, (int, np.integer)) else model.class_index(t)
        for t in np.asarray(target, object).reshape(-1)
    ]
    if len(images) == 1 and len(indices) > 1:
        images = np.repeat(images, len(indices), axis=0)
    return images, model.check_target(indices, len(images))
