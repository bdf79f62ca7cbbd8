"""Timing helpers: repeated wall-clock measurements summarised by median and spread, and a
session proxy that counts the session runs and images a method asks for."""

import time
from contextlib import contextmanager

import numpy as np


def summarise(seconds, per=1):
    """Median, quartiles, min and max of repeated timings, divided by ``per`` (e.g. images)."""
    s = np.asarray(seconds, np.float64) / per
    q1, median, q3 = np.percentile(s, [25, 50, 75])
    return {
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(s.min()),
        "max": float(s.max()),
        "repeats": int(len(s)),
    }


def measure(fn, repeats, per=1, warmup=1):
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed -> ``summarise``."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return summarise(seconds, per)


def interleaved(first, second, repeats):
    """Time ``first`` and ``second`` alternately (load swings hit both alike) -> their summaries
    and the median of the per-repeat ratios first/second."""
    a, b = [], []
    for _ in range(repeats):
        for fn, seconds in ((first, a), (second, b)):
            start = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - start)
    return summarise(a), summarise(b), float(np.median(np.asarray(a) / np.asarray(b)))


class CountingSession:
    """Stands in for ``model.session``: counts ``run`` calls and the images fed through them (the
    rows fed to the input, or to a layer whose activations are fed instead: Ablation-CAM)."""

    def __init__(self, session, images_tensor):
        self._session, self._images = session, images_tensor
        self._run = session.run  # the real one, before ``counting`` stands this one in for it
        self.runs = self.images = 0

    def run(self, fetches, feed_dict=None, **kwargs):
        self.runs += 1
        fed = (feed_dict or {}).get(self._images)
        if fed is None:  # a 4-D feed other than the pixels: a layer's activations
            fed = next((v for v in (feed_dict or {}).values() if np.ndim(v) == 4), None)
        self.images += 0 if fed is None else len(fed)
        return self._run(fetches, feed_dict, **kwargs)

    def __getattr__(self, name):
        return getattr(self._session, name)


@contextmanager
def counting(model):
    """``model.session``'s ``run`` counted by a ``CountingSession`` for the duration of the block
    (the session is the model's own: only its ``run`` is stood in for)."""
    session = model.session
    counter = CountingSession(session, model.input_tensor)
    session.run = counter.run
    try:
        yield counter
    finally:
        del session.run
