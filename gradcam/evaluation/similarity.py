"""Similarity of two saliency maps, as in Adebayo et al. 2018 ("Sanity Checks for Saliency
Maps"): Spearman rank correlation of absolute values, Pearson correlation, and SSIM (Wang et al.
2004) via scikit-image. A constant map has no defined correlation: NaN is returned."""

import numpy as np
import scipy  # scipy.stats and skimage.metrics load on first use
import skimage


def _flat_pair(a, b, absolute):
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return (np.abs(a), np.abs(b)) if absolute else (a, b)


def _constant(x):
    return np.ptp(x) == 0


def spearman(a, b, absolute=True):
    a, b = _flat_pair(a, b, absolute)
    return float("nan") if _constant(a) or _constant(b) else float(scipy.stats.spearmanr(a, b)[0])


def pearson(a, b, absolute=False):
    a, b = _flat_pair(a, b, absolute)
    return float("nan") if _constant(a) or _constant(b) else float(np.corrcoef(a, b)[0, 1])


def ssim(a, b):
    """SSIM of two maps scaled to [0, 1]."""
    return float(
        skimage.metrics.structural_similarity(
            np.asarray(a, np.float64), np.asarray(b, np.float64), data_range=1.0
        )
    )
