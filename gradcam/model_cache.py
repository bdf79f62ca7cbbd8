"""Models loaded once per process and shared by threads (web app requests, Beam DoFns).

``Session.run`` is thread-safe, adding ops to a graph is not: methods build their gradient ops
on first use. So the first run of each (model, method, layer) holds the model's lock exclusively,
and later runs, which only call ``Session.run``, share it.
"""
import threading
from contextlib import contextmanager


class _SharedExclusiveLock:
    """Many holders in shared mode, or one in exclusive mode."""

    def __init__(self):
        self._condition = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextmanager
    def shared(self):
        with self._condition:
            self._condition.wait_for(lambda: not self._exclusive)
            self._shared += 1
        try:
            yield
        finally:
            with self._condition:
                self._shared -= 1
                self._condition.notify_all()

    @contextmanager
    def exclusive(self):
        with self._condition:
            self._condition.wait_for(lambda: not self._exclusive and not self._shared)
            self._exclusive = True
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._condition.notify_all()


class SharedModel:
    """A Model plus the lock discipline above."""

    def __init__(self, model):
        self.model = model
        self._lock = _SharedExclusiveLock()
        self._warm = set()  # (method, layer) pairs whose graph ops exist
        self._warm_guard = threading.Lock()

    def predict(self, images, batch_size=32):
        with self._lock.shared():
            return self.model.predict(images, batch_size)

    @contextmanager
    def running(self, method, layer=None):
        """Context for one explanation run: exclusive the first time, shared after."""
        key = (method, layer)
        with self._warm_guard:
            warm = key in self._warm
        if warm:
            with self._lock.shared():
                yield
            return
        with self._lock.exclusive():
            yield
        with self._warm_guard:
            self._warm.add(key)

    def explain(self, images, target, method="grad_cam", layer=None, **kwargs):
        from gradcam.explain import explain

        with self.running(method, layer):
            return explain(self.model, images, target, method, layer, **kwargs)

    def explain_many(self, images, target, methods, layer=None, **kwargs):
        """``gradcam.explain.explain_many`` (one shared pass where methods allow) under the lock."""
        from gradcam.explain import explain_many

        with self.running(tuple(methods), layer):
            return explain_many(self.model, images, target, methods, layer, **kwargs)


class ModelCache:
    """Models by (network, checkpoint), each built once; building holds a lock."""

    def __init__(self):
        self._models = {}
        self._lock = threading.Lock()

    def get(self, network, checkpoint=None):
        from gradcam.model import Model

        key = (network, checkpoint)
        with self._lock:
            if key not in self._models:
                self._models[key] = SharedModel(Model(network, checkpoint))
            return self._models[key]

    def put(self, model, checkpoint=None):
        """Share an already built model (tests, or a model built with special arguments)."""
        with self._lock:
            self._models[(model.spec.name, checkpoint)] = shared = SharedModel(model)
            return shared


PROCESS_MODELS = ModelCache()
