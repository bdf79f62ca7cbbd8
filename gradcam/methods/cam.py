"""CAM (Zhou et al. 2016, "Learning Deep Features for Discriminative Localization").

For a network ending in global average pooling + one linear layer, the class's weights in that
layer weigh the channels of the pooled feature map; no gradients needed.
"""

from gradcam.errors import UserError
from gradcam.methods.cam_math import weighted_sum
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "cam",
    kind="cam",
    title="CAM",
    fetches=("activations", "head_weights"),
    cost=Cost("forward"),
    lowres=True,
    graph_default_target=True,
)
def cam(model, out):
    """Feature map of ``layer`` (default: the one feeding the pooling) weighted by the head's column."""
    if out["activations"].shape[-1] != out["head_weights"].shape[-1]:
        raise UserError(
            f"CAM: the layer has {out['activations'].shape[-1]} channels but the linear "
            f"head takes {out['head_weights'].shape[-1]}; use the layer that feeds "
            "global average pooling"
        )
    lowres = weighted_sum(out["activations"], out["head_weights"])
    return Attribution(lowres, out["logits"], lowres=lowres)
