"""LayerCAM (Jiang et al. 2021, "LayerCAM: Exploring Hierarchical Class Activation Maps for
Localization"): each position weighted by its own positive gradient, sum_c relu(dY/dA_c) * A_c."""

from gradcam.methods.cam_math import layercam_map
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "layer_cam",
    kind="cam",
    title="LayerCAM",
    fetches=("activations", "layer_gradients"),
    cost=Cost("fwd_bwd_layer"),
    lowres=True,
    graph_default_target=True,
)
def layer_cam(model, out):
    """One forward and a backward to ``layer``; no pooling of the gradients."""
    lowres = layercam_map(out["activations"], out["layer_gradients"])
    return Attribution(lowres, out["logits"], lowres=lowres)
