"""XGrad-CAM (Fu et al. 2020, "Axiom-based Grad-CAM: Towards Accurate Visualization and
Explanation of CNNs"): channel weight w_c = sum_xy(dY/dA_c * A_c) / sum_xy(A_c)."""

from gradcam.methods.cam_math import weighted_sum, xgradcam_weights
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "xgrad_cam",
    kind="cam",
    title="XGrad-CAM",
    fetches=("activations", "layer_gradients"),
    cost=Cost("fwd_bwd_layer"),
    lowres=True,
    graph_default_target=True,
)
def xgrad_cam(model, out):
    """One forward and a backward to ``layer``; gradients averaged with the activations' weights."""
    a = out["activations"]
    lowres = weighted_sum(a, xgradcam_weights(a, out["layer_gradients"]))
    return Attribution(lowres, out["logits"], lowres=lowres)
