"""Cheap priors of explanation maps: where the mass sits (border band, corners), how spread it
is, where it peaks. Maps are taken at feature resolution, made non-negative and unit-mass
(``strategies.normalise_maps``); positions are cell centres in units of the image side (0..1)."""

from dataclasses import dataclass

import numpy as np

BORDER_BAND = 0.125  # the outer eighth of each side
CORNER = 0.25  # a corner is the square of a quarter side at each corner
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


@dataclass(frozen=True, kw_only=True)
class Priors:
    """Per map (arrays of length N):

    Attributes:
        border_mass: share of the mass whose cell centre lies in the border band.
        corner_mass: {corner name: share of the mass in that corner square}.
        spread: root-mean-square distance of the mass from its centroid (image sides): small =
            focused.
        peak: float [N, 2] (y, x) of each map's largest cell.
    """

    border_mass: np.ndarray
    corner_mass: dict
    spread: np.ndarray
    peak: np.ndarray


def cell_centres(height, width):
    """(y [h, 1], x [1, w]) cell centres in image sides."""
    return (np.arange(height)[:, None] + 0.5) / height, (np.arange(width)[None, :] + 0.5) / width


def map_priors(masses) -> Priors:
    """Priors of unit-mass maps [N, h, w]."""
    masses = np.asarray(masses, np.float64)
    _, height, width = masses.shape
    y, x = cell_centres(height, width)
    border = (y < BORDER_BAND) | (y > 1 - BORDER_BAND) | (x < BORDER_BAND) | (x > 1 - BORDER_BAND)
    top, bottom, left, right = y < CORNER, y > 1 - CORNER, x < CORNER, x > 1 - CORNER
    regions = {
        "top_left": top & left,
        "top_right": top & right,
        "bottom_left": bottom & left,
        "bottom_right": bottom & right,
    }
    total = masses.sum(axis=(1, 2))
    cy = (masses * y).sum(axis=(1, 2))
    cx = (masses * x).sum(axis=(1, 2))
    variance = (masses * ((y - cy[:, None, None]) ** 2 + (x - cx[:, None, None]) ** 2)).sum(
        axis=(1, 2)
    )
    flat = masses.reshape(len(masses), -1).argmax(axis=1)
    peak = np.stack([(flat // width + 0.5) / height, (flat % width + 0.5) / width], axis=1)
    return Priors(
        border_mass=(masses * border).sum(axis=(1, 2)),
        corner_mass={name: (masses * region).sum(axis=(1, 2)) for name, region in regions.items()},
        spread=np.sqrt(np.maximum(variance, 0.0)) * (total > 0),
        peak=peak,
    )
