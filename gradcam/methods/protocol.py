"""``Explainable``: everything an explanation method may use of a model, as a ``typing.Protocol``.

``gradcam.Model`` is one (structurally: it does not subclass this); a test double or an adapter
over another framework (TF2 eager, a PAIR-saliency style ``call_model_function``) needs only these
members, not a ``Model`` subclass. tests/test_method_contract.py parses every module under
gradcam/methods and fails on a ``model.<name>`` that is not a member here, the way PAIR saliency
checks ``expected_keys`` where they cross its boundary.
"""

from collections.abc import Sequence
from typing import Optional, Protocol, runtime_checkable

import numpy as np

from gradcam.score import Score


@runtime_checkable
class Explainable(Protocol):
    """The model side of the method boundary (see ``gradcam.model.Model`` for each member)."""

    input_size: tuple  # (H, W) of the network input H x W x 3
    activation: str  # the head: "softmax", or "sigmoid" (multi-label)
    name: str  # the model's name, for messages
    attention_tokens: object  # a transformer's TokenGrid of its attention tokens, else None

    def fetch(
        self,
        images,
        target=None,
        keys: Sequence[str] = ...,
        layer: Optional[str] = None,
        batch_size: int = 32,
        *,
        score: Score = ...,
    ) -> dict:
        """{key: array} of ``gradcam.fetch_keys`` quantities of network-input images."""

    def fetch_above(
        self,
        activations,
        target=None,
        keys: Sequence[str] = ...,
        layer: Optional[str] = None,
        batch_size: int = 32,
        *,
        score: Score = ...,
        prefix=None,
        images=None,
    ) -> dict:
        """The same, computed from (edited) activations of ``layer`` by the network above it (a
        token layer's prefix tokens, fetch key ``prefix_tokens``, fed beside its map; the pixels,
        ``images``, for the paths around the layer)."""

    def predict(self, images, batch_size: int = 32) -> np.ndarray:
        """Logits [N, C] of network-input images."""

    def check_target(self, target, n: int) -> np.ndarray:
        """``target`` as one range-checked int32 class index per row."""

    def prepare(self, photo, central_fraction: Optional[float] = None) -> np.ndarray:
        """The uint8 H x W x 3 network input of an RGB photo (an image-file IG baseline)."""


MEMBERS = frozenset(
    name for name in (*Explainable.__annotations__, *vars(Explainable)) if not name.startswith("_")
)
