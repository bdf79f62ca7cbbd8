"""HiResCAM (Draelos & Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful explanations of
convolutional neural networks"): sum_c dY/dA_c * A_c at each position, the gradient not pooled."""

from gradcam.methods.cam_math import hirescam_map
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "hires_cam",
    kind="cam",
    title="HiResCAM",
    fetches=("activations", "layer_gradients"),
    cost=Cost("fwd_bwd_layer"),
    lowres=True,
    graph_default_target=True,
)
def hires_cam(model, out):
    """One forward and a backward to ``layer``; element-wise gradient times activation."""
    lowres = hirescam_map(out["activations"], out["layer_gradients"])
    return Attribution(lowres, out["logits"], lowres=lowres)
