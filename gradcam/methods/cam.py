"""CAM (Zhou et al. 2016, "Learning Deep Features for Discriminative Localization").

For a network ending in global average pooling + one linear layer, the class's weights in that
layer weigh the channels of the pooled feature map; no gradients needed.
"""

from gradcam.errors import UserError
from gradcam.fetch_keys import ACTIVATIONS, HEAD_WEIGHTS, LOGITS
from gradcam.methods.cam_math import weighted_sum
from gradcam.methods.registry import Attribution, Cost, register


@register(
    "cam",
    display="positive",
    title="CAM",
    fetches=(ACTIVATIONS, HEAD_WEIGHTS),
    cost=Cost("forward"),
    lowres=True,
    graph_default_target=True,
)
def cam(model, out):
    """Feature map of ``layer`` (default: the one feeding the pooling) weighted by the head's column."""
    if out[ACTIVATIONS].shape[-1] != out[HEAD_WEIGHTS].shape[-1]:
        raise UserError(
            f"CAM: the layer has {out[ACTIVATIONS].shape[-1]} channels but the linear "
            f"head takes {out[HEAD_WEIGHTS].shape[-1]}; use the layer that feeds "
            "global average pooling"
        )
    lowres = weighted_sum(out[ACTIVATIONS], out[HEAD_WEIGHTS])
    return Attribution(raw=lowres, logits=out[LOGITS], lowres=lowres)
