"""XRAI (Kapishnikov et al. 2019, "XRAI: Better Attributions Through Regions").

Over-segment the image at several scales (Felzenszwalb & Huttenlocher 2004), dilate the segments
so they take in their edges, then grow a cover of the image greedily: each step adds the region
whose not-yet-covered pixels have the highest mean Integrated-Gradients attribution (its gain),
and those pixels take that gain as their value. Regions that would add fewer than
``min_new_pixels`` uncovered pixels are dropped; pixels no region covers take the mean
attribution over themselves. The pixel attribution is IG from a black and from a white baseline,
averaged, then the maximum over colour channels; settings follow the paper's reference code.
Displayed positive (a rectified heatmap): ``raw`` is the region-gain map [N, S, S] at input
resolution.
"""

import numpy as np
import scipy  # submodules load on first use (scipy.ndimage, scipy.sparse): a light import
import skimage  # likewise (skimage.segmentation, skimage.morphology)

from gradcam.methods.integrated_gradients import integrated_gradients, path_points
from gradcam.methods.registry import Attribution, Cost, register
from gradcam.score import LOGIT

SCALES = (50, 100, 150, 250, 500, 1200)


def segment_masks(image, scales=SCALES, min_size=150, dilation=5):
    """Boolean masks [R, H, W]: Felzenszwalb segments of one image (values scaled to [-1, 1]) at
    every scale, each dilated by a disk of radius ``dilation`` (0 = none)."""
    image = np.asarray(image, np.float64)
    span = image.max() - image.min()
    scaled = 2.0 * (image - image.min()) / span - 1.0 if span > 0 else np.zeros_like(image)
    footprint = skimage.morphology.disk(dilation) if dilation > 0 else None
    masks = []
    for scale in scales:
        labels = skimage.segmentation.felzenszwalb(
            scaled, scale=scale, sigma=0.8, min_size=min_size
        )
        for label, box in enumerate(scipy.ndimage.find_objects(labels + 1)):
            mask = np.zeros(labels.shape, bool)
            if footprint is None:
                mask[box] = labels[box] == label
            else:  # dilate inside the segment's bounding box grown by the radius: cheap per segment
                grown = tuple(slice(max(s.start - dilation, 0), s.stop + dilation) for s in box)
                mask[grown] = scipy.ndimage.binary_dilation(labels[grown] == label, footprint)
            masks.append(mask)
    return np.stack(masks)


def region_gains(attribution, masks, min_new_pixels=50):
    """The greedy XRAI cover of an [H, W] attribution by ``masks`` [R, H, W] -> [H, W] map of the
    gain with which each pixel was covered.

    The masks are held sparse (rows list a region's pixels, columns find the regions sharing newly
    covered pixels), so each step costs what it covers, not regions x pixels."""
    values = np.asarray(attribution, np.float64).reshape(-1)
    rows = scipy.sparse.csr_matrix(np.asarray(masks).reshape(len(masks), -1), dtype=np.float64)
    columns = rows.tocsc()
    new_sum = rows @ values
    new_area = np.asarray(rows.sum(axis=1)).ravel()  # whole numbers: exact in float64
    gains = np.full(values.shape, np.nan)
    while True:
        usable = new_area >= max(min_new_pixels, 1)
        if not usable.any():
            break
        density = np.where(usable, new_sum / np.maximum(new_area, 1), -np.inf)
        pick = int(np.argmax(density))
        pixels = rows.indices[rows.indptr[pick] : rows.indptr[pick + 1]]
        new = pixels[np.isnan(gains[pixels])]
        gains[new] = density[pick]
        touched = columns[:, new]
        new_sum -= touched @ values[new]
        new_area -= np.asarray(touched.sum(axis=1)).ravel()
    rest = np.isnan(gains)
    if rest.any():
        gains[rest] = values[rest].mean()
    return gains.reshape(np.shape(attribution)).astype(np.float32)


def _cost(options, image_size):
    """IG from a black and from a white baseline."""
    return Cost(
        "fwd_bwd_input", 2 * path_points({"steps": options["steps"], "rule": "trapezoid"}).images
    )


@register(
    "xrai",
    display="positive",
    title="XRAI",
    cost=_cost,
    smoke={"steps": 2, "scales": (150,)},
    budget={"steps": 8},
)
def xrai(
    model,
    images,
    target,
    layer=None,
    batch_size=32,
    score=LOGIT,
    steps=25,
    scales=SCALES,
    min_size=150,
    dilation=5,
    min_new_pixels=50,
):
    """IG from a black and from a white baseline (``steps`` each) ranked over image regions."""
    images = np.asarray(images, np.float32)
    black = integrated_gradients(
        model, images, target, batch_size=batch_size, score=score, steps=steps
    )
    white = integrated_gradients(
        model,
        images,
        target,
        batch_size=batch_size,
        score=score,
        steps=steps,
        baseline=np.full(images.shape[1:], 255.0, np.float32),
    )
    attribution = ((black.raw + white.raw) / 2.0).max(axis=-1)
    raw = np.stack(
        [
            region_gains(
                a, segment_masks(x, scales, int(min_size), int(dilation)), int(min_new_pixels)
            )
            for a, x in zip(attribution, images)
        ]
    )
    return Attribution(raw=raw, logits=black.logits)
