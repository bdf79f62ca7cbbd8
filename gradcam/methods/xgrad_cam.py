"""XGrad-CAM (Fu et al. 2020, "Axiom-based Grad-CAM: Towards Accurate Visualization and
Explanation of CNNs"): channel weight w_c = sum_xy(dY/dA_c * A_c) / sum_xy(A_c)."""

from gradcam.fetch_keys import ACTIVATIONS, LAYER_GRADIENTS, LOGITS
from gradcam.methods.cam_math import weighted_sum, xgradcam_weights
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "xgrad_cam",
    display="positive",
    title="XGrad-CAM",
    fetches=(ACTIVATIONS, LAYER_GRADIENTS),
    cost=Cost("fwd_bwd_layer"),
    lowres=True,
    graph_default_target=True,
)
def xgrad_cam(model, out):
    """One forward and a backward to ``layer``; gradients averaged with the activations' weights."""
    a = out[ACTIVATIONS]
    lowres = weighted_sum(a, xgradcam_weights(a, out[LAYER_GRADIENTS]))
    return Attribution(raw=lowres, logits=out[LOGITS], lowres=lowres)
