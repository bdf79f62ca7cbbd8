"""Grad-CAM and the family of visual explanations for TensorFlow image classifiers::

    import gradcam
    model = gradcam.Model()                                  # the embedded EfficientNet-Lite0
    gradcam.explain(model, "cat.png", "tiger cat").save("out.png")

``Model("resnet_v2_50", checkpoint=...)`` loads a registered TF-Slim network, ``Model(spec)`` a
``nets.nets_factory.NetworkSpec`` of your own, ``Model("my_model.keras")`` a model file (Keras
.h5/.keras, SavedModel directory, frozen .pb; ``Model.from_file`` takes its options). The names below load on first use, so
``import gradcam`` (and the ``gradcam`` command's ``--help``) does not import TensorFlow.
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.2.0"
_API = {
    "Model": "gradcam.model",
    "explain": "gradcam.explanation",
    "explain_many": "gradcam.explanation",
    "Explanation": "gradcam.explanation",
    "load_image": "gradcam.images",
    "UserError": "gradcam.errors",
    "trust": "gradcam.trust",
    "TrustCard": "gradcam.trust",
}
__all__ = [
    "Model",
    "explain",
    "explain_many",
    "Explanation",
    "load_image",
    "UserError",
    "trust",
    "TrustCard",
]
assert set(__all__) == set(_API)

if TYPE_CHECKING:
    from gradcam.errors import UserError
    from gradcam.explanation import Explanation, explain, explain_many
    from gradcam.images import load_image
    from gradcam.model import Model
    from gradcam.trust import TrustCard, trust


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'gradcam' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
