"""Models loaded once per process and shared by threads (web app requests, Beam DoFns).

A ``Model`` is safe to share: its graph pieces are built under its own lock and ``Session.run``
may run concurrently, so the cache only makes sure each model is built once.
"""

import threading

from gradcam.model import Model


class ModelCache:
    """Models by (network, checkpoint) or (model file, its options), each built once; building
    holds a lock."""

    def __init__(self):
        self._models = {}
        self._lock = threading.Lock()

    def get(self, network, checkpoint=None, input_size=None, **file_options):
        """The model of a registered network (and checkpoint; run at ``input_size`` (H, W) if
        given), or with ``file_options`` (keywords of ``Model.from_file``) of the model file
        ``network``."""
        key = (network, checkpoint, input_size, tuple(sorted(file_options.items())))
        with self._lock:
            if key not in self._models:
                self._models[key] = (
                    Model.from_file(network, **file_options)
                    if file_options
                    else Model(network, checkpoint, input_size=input_size)
                )
            return self._models[key]

    def put(self, model, checkpoint=None):
        """Share an already built model (tests, or a model built with special arguments)."""
        with self._lock:
            self._models[(model.name, checkpoint, None, ())] = model
            return model


PROCESS_MODELS = ModelCache()
