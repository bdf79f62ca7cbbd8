"""Occlusion / leave-one-out (Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional
Networks"; Li et al. 2016, "Understanding Neural Networks through Representation Erasure"):
replace one region at a time and record how much the target's score drops (the ``Score``
explained: its logit by default, or a probability, or the score minus a contrast class's).

Regions are grid patches or SLIC superpixels (Achanta et al. 2012). The map is displayed positive
(a rectified heatmap): ``raw`` is the per-pixel score drop [N, H, W] at input resolution.
"""

import numpy as np
import skimage  # skimage.segmentation loads on first use

from gradcam.arrays import batch_slices, distinct_rows, frame_shape
from gradcam.errors import UserError
from gradcam.methods.registry import Attribution, Cost, register
from gradcam.score import LOGIT
from gradcam.substitutes import fill_image


def _starts(side, patch, stride):
    """Top (or left) edges of patches along one side, the last one flush with its end."""
    starts = list(range(0, side - patch + 1, stride))
    if starts[-1] + patch < side:
        starts.append(side - patch)
    return starts


def grid_regions(size, patch, stride):
    """Boolean masks [R, H, W] of square ``patch`` x ``patch`` patches covering an H x W image
    (``size`` = (H, W), or S for S x S), ``stride`` apart, the last row and column flush."""
    height, width = frame_shape(size)
    if not 1 <= patch <= min(height, width) or stride < 1:
        raise UserError(
            f"occlusion needs 1 <= patch <= {min(height, width)} (the shorter side of "
            f"{height}x{width} inputs) and stride >= 1, got patch {patch}, stride {stride}"
        )
    rows, cols = _starts(height, patch, stride), _starts(width, patch, stride)
    masks = np.zeros((len(rows) * len(cols), height, width), bool)
    for i, (top, left) in enumerate((t, c) for t in rows for c in cols):
        masks[i, top : top + patch, left : left + patch] = True
    return masks


def superpixel_regions(image, segments):
    """Boolean masks of SLIC superpixels of one image."""
    labels = skimage.segmentation.slic(
        np.asarray(image, np.uint8), n_segments=int(segments), compactness=10, start_label=0
    )
    return labels[None] == np.unique(labels)[:, None, None]


def drops_to_map(masks, drops):
    """Per pixel: the mean score drop of the regions covering it -> [H, W]."""
    coverage = masks.sum(axis=0)
    total = np.tensordot(np.asarray(drops, np.float64), masks.astype(np.float64), axes=1)
    return (total / np.maximum(coverage, 1)).astype(np.float32)


def occluded_logits(model, image, masks, filler, batch_size):
    """Logits [R, classes] of the image with each region filled; copies built batch by batch."""
    return np.concatenate(
        [
            model.predict(np.where(masks[s, :, :, None], filler[None], image[None]), batch_size)
            for s in batch_slices(len(masks), batch_size)
        ]
    )


def _cost(options, image_size):
    """One forward of the image and of each occluded copy (``image_size``: S or (H, W))."""
    regions = (
        int(options["segments"])
        if options["segments"]
        else len(grid_regions(image_size, int(options["patch"]), int(options["stride"])))
    )
    return Cost("forward", 1 + regions)


@register(
    "occlusion",
    display="positive",
    title="Occlusion",
    cost=_cost,
    smoke={"patch": 112, "stride": 112},
    budget={"patch": 32, "stride": 32},
)
def occlusion(
    model,
    images,
    target,
    layer=None,
    batch_size=32,
    score=LOGIT,
    patch=32,
    stride=16,
    segments=None,
    fill="mean",
):
    """Grid patches (``patch``, ``stride`` pixels) or ``segments`` SLIC superpixels, filled by
    ``fill`` (``gradcam.substitutes.FILLS``: mean colour, blur, zero, uniform noise).
    Rows that repeat one image (several targets) share its occluded copies: one forward of each
    copy scores every class."""
    images = np.asarray(images, np.float32)
    target = model.check_target(target, len(images))
    grid = None if segments else grid_regions(model.input_size, int(patch), int(stride))
    firsts, index = distinct_rows(images)
    logits = model.predict(images[firsts], batch_size)
    regions = []
    for image in images[firsts]:
        masks = grid if grid is not None else superpixel_regions(image, segments)
        regions.append(
            (masks, occluded_logits(model, image, masks, fill_image(image, fill), batch_size))
        )
    maps = []
    for d, t in zip(index, target):
        masks, occluded = regions[d]
        drops = score.of(logits[d : d + 1], t, model.activation) - score.of(
            occluded, t, model.activation
        )
        maps.append(drops_to_map(masks, drops))
    return Attribution(raw=np.stack(maps), logits=logits[index])
