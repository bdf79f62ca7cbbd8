"""Model sources read as graphs (``Source``): a Keras file (checked for code first, then traced), a
live Keras model (traced), a SavedModel directory (TF2 traced, TF1 with its variables) or a frozen
GraphDef ``.pb``. ``gradcam.loaders.analysis`` decides what in the graph is what."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from gradcam.errors import UserError
from gradcam.loaders.graph_file import meta_graph, read_graph_def, read_saved_model
from gradcam.loaders.keras_config import (
    HDF5_SIGNATURE,
    ZIP_SIGNATURE,
    check_trusted,
    file_signature,
    read_keras_file,
)
from gradcam.loaders.keras_trace import SIGNATURE, freeze_keras, freeze_saved_model, trace_keras

KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


@dataclass(frozen=True, kw_only=True)
class Source:
    """A model read as a graph: ``graph_def``; its image ``input`` and ``outputs`` tensor names
    where the source says (None: found in the graph); Keras ``layers`` {path: tensor name};
    ``meta``: a TF1 SavedModel's MetaGraphDef, whose variables are restored from ``variables``."""

    graph_def: object
    input: Optional[str] = None
    outputs: Optional[dict] = None
    layers: dict = field(default_factory=dict)
    meta: object = None
    variables: Optional[str] = None


def read_source(path: Path, trust_code: bool = False, tags=("serve",)) -> Source:
    """The graph of a model file or SavedModel directory (Keras files checked for code first)."""
    if path.is_dir():
        return _saved_model_source(path, tags)
    head = file_signature(path)
    if not head:
        raise UserError(f"{path} is empty")
    if head.startswith((HDF5_SIGNATURE, ZIP_SIGNATURE)) or path.suffix.lower() in KERAS_SUFFIXES:
        keras_file = read_keras_file(path)
        check_trusted(keras_file, trust_code)
        return _traced(freeze_keras(keras_file, trust_code))
    return Source(graph_def=read_graph_def(path))


def keras_model_source(model, name: str) -> Source:
    """The graph of a live Keras 3 or tf-keras model, traced like a file's (no file, so no check)."""
    return _traced(trace_keras(model, name))


def _traced(frozen):
    return Source(
        graph_def=frozen.graph_def, input=frozen.input, outputs=frozen.outputs, layers=frozen.layers
    )


def _saved_model_source(path, tags):
    saved = read_saved_model(path)
    if any(meta.object_graph_def.nodes for meta in saved.meta_graphs):  # TF2: functions
        return _traced(freeze_saved_model(path))
    meta = meta_graph(saved, path, tags)
    signature = meta.signature_def.get(SIGNATURE)
    inputs = [info.name for info in signature.inputs.values()] if signature else []
    outputs = {key: info.name for key, info in signature.outputs.items()} if signature else None
    return Source(
        graph_def=meta.graph_def,
        input=inputs[0] if len(inputs) == 1 else None,
        outputs=outputs or None,
        meta=meta,
        variables=str(path / "variables" / "variables"),
    )
