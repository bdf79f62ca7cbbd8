"""HiResCAM (Draelos & Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful explanations of
convolutional neural networks"): sum_c dY/dA_c * A_c at each position, the gradient not pooled."""

from gradcam.fetch_keys import ACTIVATIONS, LAYER_GRADIENTS, LOGITS
from gradcam.methods.cam_math import hirescam_map
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "hires_cam",
    display="positive",
    title="HiResCAM",
    fetches=(ACTIVATIONS, LAYER_GRADIENTS),
    cost=Cost("fwd_bwd_layer"),
    lowres=True,
    graph_default_target=True,
)
def hires_cam(model, out):
    """One forward and a backward to ``layer``; element-wise gradient times activation."""
    lowres = hirescam_map(out[ACTIVATIONS], out[LAYER_GRADIENTS])
    return Attribution(raw=lowres, logits=out[LOGITS], lowres=lowres)
