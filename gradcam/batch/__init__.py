"""Explaining a folder of images at scale: decoding at the size the network needs, several images
per session run, decoding and encoding in threads beside the network, atomic outputs, and a
results.jsonl whose lines are the done-markers that make ``--resume`` exact.

Per image the job writes the outputs chosen (``JobSettings.outputs``): ``<name>.png`` (overlay)
and ``<name>.npz`` (arrays), each atomically, and only then, once both are in place, appends its
JSON line. A kill can therefore leave at most a partial last line (cut off on resume) and outputs
without a line (redone and atomically replaced): nothing lost, nothing twice.

How the work overlaps (``ExplainStream``): a pool of decoding threads works up to two batches
ahead of the network; the network runs in the caller's thread; a pool of writing threads draws
the overlays and encodes the PNG and NPZ files of earlier batches (at most two batches behind).
PIL releases the GIL while it decodes, resizes and zlib-compresses, so these threads use other
cores; both pools have ``io_threads`` threads (default: the cores this process may use, at most
16). Every queue is bounded, so memory does not grow with the number of images. The same
``ImageJob`` and ``ExplainStream`` do the work for ``gradcam batch`` and the Beam pipeline.

The modules: ``settings`` (``JobSettings``), ``inputs`` (listing, output names), ``job``
(``ImageJob``: decode, explain, write), ``stream`` (``ExplainStream``) and ``run``
(``run_batch``, resume).
"""

from gradcam.batch.inputs import IMAGE_SUFFIXES, Inputs, is_image_name, list_inputs, output_name
from gradcam.batch.job import Decoded, Explained, ImageJob, map_statistics, write_local
from gradcam.batch.run import (
    RESULTS_FILE,
    check_resume,
    completed_paths,
    finish_summary,
    peak_rss_mb,
    plan_inputs,
    run_batch,
    tally,
)
from gradcam.batch.settings import (
    MAX_IO_THREADS,
    NPZ_MAPS,
    OUTPUTS,
    JobSettings,
    default_io_threads,
    parse_outputs,
)
from gradcam.batch.stream import ExplainStream, ahead

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IO_THREADS",
    "NPZ_MAPS",
    "OUTPUTS",
    "RESULTS_FILE",
    "Decoded",
    "Explained",
    "ExplainStream",
    "ImageJob",
    "Inputs",
    "JobSettings",
    "ahead",
    "check_resume",
    "completed_paths",
    "default_io_threads",
    "finish_summary",
    "is_image_name",
    "list_inputs",
    "map_statistics",
    "output_name",
    "parse_outputs",
    "peak_rss_mb",
    "plan_inputs",
    "run_batch",
    "tally",
    "write_local",
]
