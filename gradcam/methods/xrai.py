"""XRAI (Kapishnikov et al. 2019, "XRAI: Better Attributions Through Regions"): over-segment the
image at several scales (Felzenszwalb & Huttenlocher 2004), then greedily pick the region with the
highest Integrated-Gradients density over the pixels not yet covered. ``raw`` holds, per pixel,
1 - rank / regions of the region that covered it (constant per region, on all 3 channels)."""
import numpy as np

from gradcam.methods.integrated_gradients import integrated_gradients
from gradcam.methods.registry import Attribution, register


def segment_masks(image, scales=(50, 150, 500), min_size=20):
    """Boolean masks [R, H, W] of Felzenszwalb segments of one image at every scale."""
    from skimage.segmentation import felzenszwalb

    masks = []
    for scale in scales:
        labels = felzenszwalb(np.asarray(image, np.uint8), scale=scale, sigma=0.8, min_size=min_size)
        masks.append(labels[None] == np.unique(labels)[:, None, None])
    return np.concatenate(masks)


def rank_regions(attribution, masks):
    """Greedy XRAI order: repeatedly take the region with the highest mean attribution over its
    still-uncovered pixels. Returns [H, W] with 1 - rank / picks (1 = first region), 0 if uncovered.

    The masks are held sparse (rows to list a region's pixels, columns to update the regions that
    share newly covered pixels), so each pick costs what it covers, not regions x pixels."""
    from scipy import sparse

    values = np.asarray(attribution, np.float64).reshape(-1)
    rows = sparse.csr_matrix(np.asarray(masks).reshape(len(masks), -1), dtype=np.float64)
    columns = rows.tocsc()
    remaining_sum = rows @ values
    remaining_area = np.asarray(rows.sum(axis=1)).ravel()  # whole numbers: exact in float64
    order = np.full(values.shape, -1)
    covered = np.zeros(values.shape, bool)
    picks = 0
    while remaining_area.max() > 0:
        density = np.where(remaining_area > 0, remaining_sum / np.maximum(remaining_area, 1), -np.inf)
        pick = int(np.argmax(density))
        pixels = rows.indices[rows.indptr[pick]:rows.indptr[pick + 1]]
        new = pixels[~covered[pixels]]
        order[new] = picks
        covered[new] = True
        touched = columns[:, new]
        remaining_sum -= touched @ values[new]
        remaining_area -= np.asarray(touched.sum(axis=1)).ravel()
        picks += 1
    ranked = np.where(order >= 0, 1.0 - order / max(picks, 1), 0.0)
    return ranked.reshape(np.shape(attribution)).astype(np.float32)


@register("xrai", kind="pixel", title="XRAI")
def xrai(model, images, target, layer=None, batch_size=32, steps=25, scales=(50, 150, 500)):
    """IG from a black and from a white baseline (``steps`` each), summed over colour channels."""
    images = np.asarray(images, np.float32)
    black = integrated_gradients(model, images, target, batch_size=batch_size, steps=steps)
    white = integrated_gradients(model, images, target, batch_size=batch_size, steps=steps,
                                 baseline=np.full(images.shape[1:], 255.0, np.float32))
    density = (black.raw + white.raw).sum(axis=-1) / 2.0
    ranked = np.stack([rank_regions(d, segment_masks(x, scales)) for d, x in zip(density, images)])
    return Attribution(np.repeat(ranked[..., None], 3, axis=-1), black.logits)
