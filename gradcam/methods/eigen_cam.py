"""Eigen-CAM (Muhammad & Yeasin 2020, "Eigen-CAM: Class Activation Map using Principal
Components"): the layer's activations (positions x channels, each channel centred) projected on
their first principal direction, signed to correlate positively with the mean activation.

It uses no class score (registered ``uses_score=False``): the map is the same for every target,
and ``explain`` refuses a contrast class or a probability score for it."""

from gradcam.fetch_keys import ACTIVATIONS, LOGITS
from gradcam.methods.cam_math import eigencam_map
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "eigen_cam",
    display="positive",
    title="Eigen-CAM",
    fetches=(ACTIVATIONS,),
    cost=Cost("forward"),
    lowres=True,
    graph_default_target=True,
    uses_score=False,
)
def eigen_cam(model, out):
    """One forward to ``layer``; an SVD per image."""
    lowres = eigencam_map(out[ACTIVATIONS])
    return Attribution(raw=lowres, logits=out[LOGITS], lowres=lowres)
