"""What a batch job explains and how (``JobSettings``): plain values, checked when made, that
Beam can ship to its workers."""

import os
from dataclasses import dataclass
from typing import Optional

from gradcam.errors import UserError
from gradcam.methods import get_method
from gradcam.score import LOGIT, Score
from gradcam.visualize import STYLES

OUTPUTS = ("png", "npz", "jsonl")
NPZ_MAPS = ("full", "lowres")
MAX_IO_THREADS = 16


def default_io_threads():
    """Decoding (and, separately, writing) threads: the cores this process may use, at most 16."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_IO_THREADS))


def parse_outputs(text):
    """The outputs named in a comma-separated ``text`` ("png,npz,jsonl"), in canonical order."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown or not names:
        raise UserError(
            f"{{argument}}: {', '.join(unknown) or 'nothing'} is not an output; "
            f"choose from {','.join(OUTPUTS)}",
            "outputs",
        )
    return tuple(n for n in OUTPUTS if n in names)


@dataclass(frozen=True)
class JobSettings:
    """What to explain and how; plain values so Beam can ship it to workers. Checked when made."""

    model: str = "efficientnet_lite0"
    checkpoint: Optional[str] = None
    model_file: Optional[str] = None  # a Keras/SavedModel/.pb file (instead of model) ...
    trust_model_code: bool = False  # ... and how to load it (see gradcam.Model.from_file)
    preprocessing: Optional[str] = None
    image_size: object = None  # S or (H, W): a model file's size, or a registered net's
    method: str = "grad_cam"
    target_class: Optional[str] = None  # name or index; None = each image's top class
    layer: Optional[str] = None
    top_k: int = 5
    style: str = "heatmap"
    alpha: float = 0.5
    batch_size: int = 8
    central_fraction: Optional[float] = None
    options: tuple = ()  # (key, value) pairs of method options
    score: Score = LOGIT  # what is explained: kind, and a contrast class (name or index) or None
    outputs: tuple = OUTPUTS  # which of png, npz, jsonl to write per image
    npz_maps: str = "full"  # "full": the S x S map; "lowres": only the feature-resolution map
    exact_decode: bool = False  # True: decode every pixel (else at the size the network needs)
    io_threads: Optional[int] = None  # decoding and writing threads each; None: from the cores
    # A model_file or checkpoint given as a URL: its size and SHA-256 as the driver measured
    # them, which every worker's fetched copy must match (gradcam.remote)
    model_size: Optional[int] = None
    model_sha256: Optional[str] = None

    def __post_init__(self):
        method = get_method(self.method)
        method.check_options(dict(self.options))
        if not isinstance(self.score, Score):
            raise UserError(
                f"{{argument}} must be a gradcam.score.Score, got {self.score!r}", "score"
            )
        if self.style not in STYLES:
            raise UserError(f"unknown style {self.style!r}; valid styles: {', '.join(STYLES)}")
        for name in ("top_k", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{{argument}} must be at least 1, got {getattr(self, name)}", name)
        if self.io_threads is not None and self.io_threads < 1:
            raise UserError(f"{{argument}} must be at least 1, got {self.io_threads}", "io_threads")
        if not self.outputs or set(self.outputs) - set(OUTPUTS):
            raise UserError(
                f"{{argument}} must name some of {','.join(OUTPUTS)}, got "
                f"{','.join(self.outputs) or 'nothing'}",
                "outputs",
            )
        if self.npz_maps not in NPZ_MAPS:
            raise UserError(
                f"{{argument}} must be one of {', '.join(NPZ_MAPS)}, got {self.npz_maps!r}",
                "npz_maps",
            )
        if self.npz_maps == "lowres" and not method.lowres:
            raise UserError(
                f"{{argument}} lowres: {self.method} has no feature-resolution map (use full)",
                "npz_maps",
            )
        if self.npz_maps == "lowres" and "npz" not in self.outputs:
            raise UserError("{argument} lowres needs npz among the outputs", "npz_maps")

    @property
    def io_thread_count(self):
        """``io_threads``, or the default from the cores."""
        return self.io_threads or default_io_threads()
