"""Loaders: each turns one kind of model source into a ``gradcam.graph.ClassifierGraph``.

- ``slim``: a TF-Slim network record (``nets.nets_factory.NetworkSpec``) and a checkpoint.
- ``model_file``: a Keras .h5/.keras file, a SavedModel directory, a frozen GraphDef .pb, or a live
  Keras model, from the pieces below:
  - ``sources``: reads each kind into a GraphDef (``Source``);
  - ``keras_config``: the safety check of a Keras file, before anything of it loads;
  - ``keras_trace``: loads Keras models and TF2 SavedModels and traces them into frozen graphs;
  - ``graph_file``: reads GraphDefs and SavedModel protos, checks user-given tensor names;
  - ``analysis``: finds input, logits, layers, attention and the default layer (``Found``);
  - ``tokens``: a transformer's token layers as maps of their patch grid.

``is_model_file`` (here, importing no TensorFlow) tells a model file from a registered network.
"""

from os import PathLike
from pathlib import Path

from nets.nets_factory import NETWORKS

MODEL_FILE_SUFFIXES = (".h5", ".hdf5", ".keras", ".pb")


def is_model_file(network) -> bool:
    """True when ``network`` names a model file rather than a registered network: a path object,
    or a string that is not a registered name and names an existing file or directory (or ends
    in a model file's suffix)."""
    if isinstance(network, PathLike):
        return True
    return (
        isinstance(network, str)
        and network not in NETWORKS
        and (Path(network).exists() or Path(network).suffix.lower() in MODEL_FILE_SUFFIXES)
    )
