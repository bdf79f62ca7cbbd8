"""Grad-CAM and the family of visual explanations for TensorFlow image classifiers::

    import gradcam
    model = gradcam.Model()                                  # the embedded EfficientNet-Lite0
    gradcam.explain(model, "cat.png", "tiger cat").save("out.png")

``Model("resnet_v2_50", checkpoint=...)`` loads a registered TF-Slim network, ``Model(spec)`` a
``gradcam.NetworkSpec`` of your own (``gradcam.nets`` holds the network registry),
``Model("my_model.keras")`` a model file (Keras .h5/.keras, SavedModel directory, frozen .pb;
``Model.from_file`` takes its options). ``gradcam.audit(model, "data/", out="audit/")`` audits
what a model relies on across a data set, ``gradcam.diff(model_a, model_b, "data/")`` compares
two versions' evidence, ``gradcam.trust(model, "data/")`` says which explanation methods pass
sanity and faithfulness checks on it. The names below load on first use, so
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
    "NetworkSpec": "gradcam.nets",
    "Score": "gradcam.score",
    "audit": "gradcam.auditing",
    "diff": "gradcam.model_diff",
    "Diff": "gradcam.model_diff",
    "trust": "gradcam.method_trust",
    "TrustCard": "gradcam.method_trust",
}
__all__ = [
    "Model",
    "explain",
    "explain_many",
    "Explanation",
    "load_image",
    "UserError",
    "NetworkSpec",
    "Score",
    "audit",
    "diff",
    "Diff",
    "trust",
    "TrustCard",
]
assert set(__all__) == set(_API)

if TYPE_CHECKING:
    from gradcam.auditing import audit
    from gradcam.errors import UserError
    from gradcam.explanation import Explanation, explain, explain_many
    from gradcam.images import load_image
    from gradcam.method_trust import TrustCard, trust
    from gradcam.model import Model
    from gradcam.model_diff import Diff, diff
    from gradcam.nets import NetworkSpec
    from gradcam.score import Score


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'gradcam' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
