"""LayerCAM (Jiang et al. 2021, "LayerCAM: Exploring Hierarchical Class Activation Maps for
Localization"): each position weighted by its own positive gradient, sum_c relu(dY/dA_c) * A_c."""

from gradcam.fetch_keys import ACTIVATIONS, LAYER_GRADIENTS, LOGITS
from gradcam.methods.cam_math import layercam_map
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "layer_cam",
    display="positive",
    title="LayerCAM",
    fetches=(ACTIVATIONS, LAYER_GRADIENTS),
    cost=Cost("fwd_bwd_layer"),
    lowres=True,
    graph_default_target=True,
)
def layer_cam(model, out):
    """One forward and a backward to ``layer``; no pooling of the gradients."""
    lowres = layercam_map(out[ACTIVATIONS], out[LAYER_GRADIENTS])
    return Attribution(raw=lowres, logits=out[LOGITS], lowres=lowres)
