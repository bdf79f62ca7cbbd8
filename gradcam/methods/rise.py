"""RISE (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for Explanation of Black-box
Models", BMVC): the score of the image under N random smooth masks, and the saliency of each
pixel as the score-weighted mean of the masks that keep it (the masks: ``rise_math``).

    S(l) = 1 / (N p) * sum_i (f(I . M_i) - mean_j f(I . M_j)) M_i(l)

The paper weighs each mask by the score f itself; we subtract the mean score over the masks (see
``rise_math.centred_total``): in expectation the same map shifted by a constant, with less noise,
and signed, so the display's ReLU keeps where keeping the pixel raises the score (a contrast score
can be negative on most masks). f is the model's score of the target (its logit by default, the
paper's softmax probability with ``score="probability"``, minus a contrast class's if given).

Masked-out pixels: I . M, as the paper (``fill="zero"``, black pixels); ``fill="mean"`` (the
image's mean colour) or ``"blur"`` (a blurred copy) put I . M + F . (1 - M) instead. The masks
depend only on ``seed``: every image (and every batch size) gets the same ones. Displayed
positive (a rectified heatmap): ``raw`` is the saliency [N, H, W] at input resolution.
"""

import numpy as np

from gradcam.arrays import distinct_rows
from gradcam.methods.registry import Attribution, Cost, register
from gradcam.methods.rise_math import centred_total, rise_masks, rise_saliency, score_weighted_masks
from gradcam.score import LOGIT
from gradcam.substitutes import fill_image


def masked_scores(model, image, masks, filler, targets, batch_size, score):
    """Scores [b, T] of ``image`` under each mask [b, H, W] for each target class."""
    kept = masks[..., None]
    logits = model.predict(image * kept + filler * (1.0 - kept), batch_size)
    return np.stack([score.of(logits, t, model.activation) for t in targets], axis=1)


def saliency(model, image, targets, *, masks, cells, keep, seed, fill, batch_size, score):
    """RISE maps [T, H, W] of one image for each of ``targets``, masks generated batch by batch."""
    size = model.input_size
    filler = fill_image(image, fill)
    total = np.zeros((len(targets), *size))
    mask_total, score_total = np.zeros(size), np.zeros(len(targets))
    for batch in rise_masks(int(masks), size, int(cells), float(keep), seed, batch_size):
        scores = masked_scores(model, image, batch, filler, targets, batch_size, score)
        total += score_weighted_masks(batch, scores)
        mask_total += batch.sum(axis=0, dtype=np.float64)
        score_total += scores.sum(axis=0, dtype=np.float64)
    return rise_saliency(
        centred_total(total, mask_total, score_total, int(masks)), int(masks), float(keep)
    )


@register(
    "rise",
    display="positive",
    title="RISE",
    smoke={"masks": 8},
    budget={"masks": 500},
    cost=lambda options, size: Cost("forward", int(options["masks"]) + 1),
)
def rise(
    model,
    images,
    target,
    layer=None,
    batch_size=32,
    score=LOGIT,
    masks=1000,
    cells=7,
    keep=0.5,
    seed=0,
    fill="zero",
):
    """``masks`` (N) random masks of ``cells`` x ``cells`` cells each kept with probability
    ``keep``, shifted at random (the paper: N = 4000-8000, cells 7, keep 0.5); ``layer`` is not
    used. Rows that repeat one image (several targets) share its masked copies."""
    images = np.asarray(images, np.float32)
    target = model.check_target(target, len(images))
    firsts, index = distinct_rows(images)
    logits = model.predict(images[firsts], batch_size)
    maps = np.empty((len(images), *model.input_size), np.float32)
    for d, image in enumerate(images[firsts]):
        rows = np.flatnonzero(index == d)
        maps[rows] = saliency(
            model,
            image,
            target[rows],
            masks=masks,
            cells=cells,
            keep=keep,
            seed=seed,
            fill=fill,
            batch_size=batch_size,
            score=score,
        )
    return Attribution(raw=maps, logits=logits[index])
