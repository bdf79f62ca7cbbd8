"""Eigen-CAM (Muhammad & Yeasin 2020, "Eigen-CAM: Class Activation Map using Principal
Components"): the layer's activations (positions x channels, each channel centred) projected on
their first principal direction, signed to correlate positively with the mean activation.

It uses no class score: the map is the same for every target, and a contrast class or a
probability score does not apply (refused)."""

from gradcam.errors import UserError
from gradcam.methods.cam_math import eigencam_map
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "eigen_cam",
    kind="cam",
    title="Eigen-CAM",
    fetches=("activations",),
    cost=Cost("forward"),
    lowres=True,
    graph_default_target=True,
)
def eigen_cam(model, out):
    """One forward to ``layer``; an SVD per image."""
    if model.contrast_class is not None or model.score_kind != "logit":
        raise UserError(
            "eigen_cam uses no class score: a contrast class or a probability score "
            "does not apply to it"
        )
    lowres = eigencam_map(out["activations"])
    return Attribution(lowres, out["logits"], lowres=lowres)
