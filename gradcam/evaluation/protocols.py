"""Evaluation protocols as data, so every result names the protocol it was measured with.

Deletion / insertion (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for
Explanation of Black-box Models", BMVC). Pixels are ranked by the map, most salient first;
deletion moves the ranked pixels of the image to a substrate, insertion moves them from a canvas
back to the image; the score after each step is the softmax probability of the class, and the
AUC is the trapezoid area over [0, 1] with equal spacing: (sum(s) - s_0 / 2 - s_n / 2) / n.

``RISE`` reproduces the paper's evaluation code (``evaluation.py`` and ``Evaluation.ipynb`` of
the authors' repository eclique/RISE):
- image: the whole image resized to 224 x 224 (``transforms.Resize((224, 224))``, no crop);
- deletion substrate: ``torch.zeros_like`` of the normalised tensor. The network input there is
  (x / 255 - mean) / std with torchvision's ImageNet mean (0.485, 0.456, 0.406), so zero is the
  mean colour. Our networks take 0..255 pixels and normalise inside the graph, each in its own
  way; the protocol fixes the image content RISE fed its network, the ImageNet mean pixel
  255 * mean = (123.675, 116.28, 103.53), whatever the network's normalisation;
- insertion canvas: the image blurred with an 11 x 11 Gaussian kernel of sigma 5 (``gkern(11,
  5)``: ``scipy.ndimage.gaussian_filter`` of a centred unit impulse), applied per channel to the
  normalised tensor with zero padding (``conv2d(x, kern, padding=5)``); in pixels: mean +
  K * (x - mean) with zero padding of x - mean, i.e. the border is padded with the mean colour;
- step: 224 pixels per step (``CausalMetric(model, 'del', 224, ...)``), so 224 steps and 225
  scores on a 224 x 224 image; in general ceil(H W / 224) steps, the last one possibly shorter;
- score: softmax probability of the class the model predicts on the unperturbed image.
Pixel ties are broken in a seeded random order here (``perturbation.pixel_ranks``); RISE's
``np.argsort`` leaves their order to the sort implementation.

``DEFAULT`` is gradcam-slim's own protocol (``gradcam evaluate`` without ``--protocol``): the
image the model's preprocessing makes (central crop), black (0) deletion substrate, a PIL
Gaussian blur of radius 5 as insertion canvas, 32 equal steps, the probability of the explained
class.

Localisation / pointing game: ``LocalizationProtocol`` carries the parameters of
gradcam.evaluation.localization (whole image, no crop; bilinear upsampling to the original
size; 15% threshold; 8-connected largest component; IoU >= 0.5; 15-pixel pointing tolerance).
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Optional

import numpy as np
from scipy import ndimage

from gradcam.errors import UserError
from gradcam.evaluation import localization, perturbation

IMAGENET_MEAN_PIXEL = (123.675, 116.28, 103.53)  # 255 x torchvision's (0.485, 0.456, 0.406)
RISE_BLUR_SIZE = 11
RISE_BLUR_SIGMA = 5.0
RISE_STEP_PIXELS = 224
PIL_BLUR_RADIUS = 5.0  # perturbation.substrate_image's "blur"

SUBSTRATES = {
    "zero": {"kind": "constant", "pixel": [0.0, 0.0, 0.0]},
    "blur": {"kind": "PIL GaussianBlur", "radius": PIL_BLUR_RADIUS},
    "imagenet_mean": {
        "kind": "constant",
        "pixel": list(IMAGENET_MEAN_PIXEL),
        "note": "zeros of the ImageNet-normalised tensor",
    },
    "rise_blur": {
        "kind": "Gaussian kernel",
        "size": RISE_BLUR_SIZE,
        "sigma": RISE_BLUR_SIGMA,
        "padding": "ImageNet mean pixel (zeros of the normalised tensor)",
    },
}


@dataclass(frozen=True)
class PerturbationProtocol:
    """A deletion / insertion protocol.

    Attributes:
        name: short name used on the command line and in outputs.
        image_geometry: "model" (the model's own preprocessing, e.g. a central crop) or "whole"
            (the whole image resized to the network input, no crop).
        deletion_substrate, insertion_substrate: keys of ``SUBSTRATES``.
        steps: number of equal steps over all pixels (None when ``step_pixels`` is set).
        step_pixels: pixels changed per step (RISE's rule), or None.
        target: "explained" (the class the map explains) or "predicted" (the model's top-1 class
            on the unperturbed image).
        score: what is recorded after each step.
        reference: where the protocol comes from.
    """

    name: str
    image_geometry: str
    deletion_substrate: str
    insertion_substrate: str
    steps: Optional[int]
    step_pixels: Optional[int]
    target: str
    score: str = "softmax probability"
    pixel_order: str = "decreasing saliency, ties in a seeded random order"
    auc: str = "trapezoid over [0, 1], equal spacing"
    reference: str = ""

    def __post_init__(self):
        if (self.steps is None) == (self.step_pixels is None):
            raise ValueError("give exactly one of steps and step_pixels")
        for substrate_name in (self.deletion_substrate, self.insertion_substrate):
            if substrate_name not in SUBSTRATES:
                raise ValueError(f"unknown substrate {substrate_name!r}")

    def as_dict(self) -> dict:
        """The protocol and the parameters of its substrates, JSON-ready."""
        out = asdict(self)
        out["deletion_substrate"] = {
            "name": self.deletion_substrate,
            **SUBSTRATES[self.deletion_substrate],
        }
        out["insertion_substrate"] = {
            "name": self.insertion_substrate,
            **SUBSTRATES[self.insertion_substrate],
        }
        return out


DEFAULT = PerturbationProtocol(
    name="default",
    image_geometry="model",
    deletion_substrate="zero",
    insertion_substrate="blur",
    steps=32,
    step_pixels=None,
    target="explained",
    reference="gradcam-slim's own protocol (gradcam.evaluation.perturbation defaults)",
)

RISE = PerturbationProtocol(
    name="rise",
    image_geometry="whole",
    deletion_substrate="imagenet_mean",
    insertion_substrate="rise_blur",
    steps=None,
    step_pixels=RISE_STEP_PIXELS,
    target="predicted",
    reference="Petsiuk et al. 2018 (RISE), evaluation code of eclique/RISE: "
    "CausalMetric(model, 'del', 224, torch.zeros_like), "
    "CausalMetric(model, 'ins', 224, blur with gkern(11, 5))",
)

PROTOCOLS = {p.name: p for p in (DEFAULT, RISE)}


def get_protocol(name: str) -> PerturbationProtocol:
    """The protocol called ``name``; UserError naming the valid ones otherwise."""
    if name not in PROTOCOLS:
        raise UserError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def with_steps(protocol: PerturbationProtocol, steps: int) -> PerturbationProtocol:
    """The protocol with ``steps`` equal steps instead of its own step rule, renamed
    "<name>-<steps>-steps" so that no figure measured with it carries the plain name."""
    return replace(
        protocol, name=f"{protocol.name}-{int(steps)}-steps", steps=int(steps), step_pixels=None
    )


def rise_blur_kernel(size: int = RISE_BLUR_SIZE, sigma: float = RISE_BLUR_SIGMA) -> np.ndarray:
    """RISE's ``gkern``: a size x size unit impulse smoothed by scipy's gaussian_filter (its
    default reflecting border keeps the total at 1)."""
    impulse = np.zeros((size, size))
    impulse[size // 2, size // 2] = 1.0
    return ndimage.gaussian_filter(impulse, sigma)


def rise_blur(
    image: np.ndarray,
    size: int = RISE_BLUR_SIZE,
    sigma: float = RISE_BLUR_SIGMA,
    mean=IMAGENET_MEAN_PIXEL,
) -> np.ndarray:
    """RISE's insertion canvas in 0..255 pixels: per channel, mean + K * (x - mean) with the
    outside of the image at the mean (zero padding of the normalised tensor). float32."""
    image = np.asarray(image, np.float64)
    kernel = rise_blur_kernel(size, sigma)
    out = np.empty_like(image)
    for c in range(image.shape[-1]):
        centred = image[..., c] - mean[c]
        out[..., c] = ndimage.correlate(centred, kernel, mode="constant", cval=0.0) + mean[c]
    return out.astype(np.float32)


def substrate(image: np.ndarray, name: str) -> np.ndarray:
    """The float32 H x W x 3 substrate / canvas ``name`` (a key of SUBSTRATES) of an image."""
    image = np.asarray(image, np.float32)
    if name in ("zero", "blur"):
        return perturbation.substrate_image(image, name, PIL_BLUR_RADIUS)
    if name == "imagenet_mean":
        return np.broadcast_to(np.asarray(IMAGENET_MEAN_PIXEL, np.float32), image.shape).copy()
    if name == "rise_blur":
        return rise_blur(image)
    raise ValueError(f"unknown substrate {name!r}; valid: {', '.join(SUBSTRATES)}")


def protocol_curves(
    score_fn: Callable,
    image: np.ndarray,
    saliency: np.ndarray,
    protocol: PerturbationProtocol,
    batch_size: int = 32,
) -> dict:
    """Deletion and insertion curves and AUCs of one (image, map) under a protocol.

    Args:
        score_fn: batch of float32 images [B, H, W, 3] in 0..255 -> [B] scores (the softmax
            probability of the protocol's target class, e.g. ``perturbation.probability_fn``).
        image: the H x W x 3 image the network sees under the protocol's geometry.
        saliency: H x W map at the same size.
        protocol: a PerturbationProtocol.
        batch_size: images per call of ``score_fn``.

    Returns:
        dict with ``deletion_curve``, ``insertion_curve`` (scores after each step, the first
        for 0 pixels changed), ``deletion_auc``, ``insertion_auc``.
    """
    out = {}
    for mode, name in (
        ("deletion", protocol.deletion_substrate),
        ("insertion", protocol.insertion_substrate),
    ):
        values = perturbation.curve(
            score_fn,
            image,
            saliency,
            mode,
            substrate(image, name),
            protocol.steps,
            batch_size,
            protocol.step_pixels,
        )
        out[f"{mode}_curve"] = values
        out[f"{mode}_auc"] = perturbation.auc(values)
    return out


@dataclass(frozen=True)
class LocalizationProtocol:
    """Parameters of the weakly-supervised localisation and pointing-game protocol (see
    gradcam.evaluation.localization)."""

    name: str = "cam-gradcam-localization"
    image_geometry: str = "whole"
    map_upsampling: str = "bilinear, to the original image size"
    threshold: float = localization.THRESHOLD
    threshold_rule: str = "M >= threshold * max(M)"
    connectivity: int = 8
    component: str = "largest by pixel count"
    iou_threshold: float = localization.IOU_THRESHOLD
    pointing_tolerance: float = localization.TOLERANCE
    pointing_ties: str = "first maximal pixel in raster order (numpy.argmax)"
    reference: str = (
        "Zhou et al. 2016 (CAM); Selvaraju et al. 2017 (Grad-CAM, Sec. 4.1); "
        "Zhang et al. 2016 (pointing game)"
    )

    def as_dict(self) -> dict:
        return asdict(self)
