"""Decoding, explaining and writing overlapped (see gradcam.batch's docstring): ``ahead`` runs a
function in a pool a bounded number of items ahead of its consumer; ``ExplainStream`` drives an
``ImageJob`` with it."""

from collections import deque
from concurrent.futures import ThreadPoolExecutor


def ahead(function, items, pool, depth):
    """Yield ``function(item)`` for each item in order, computed in ``pool`` at most ``depth``
    items ahead of the consumer; an exception is raised to the consumer at its item."""
    items, running = iter(items), deque()
    try:
        while True:
            while len(running) < depth and (item := next(items, _END)) is not _END:
                running.append(pool.submit(function, item))
            if not running:
                return
            yield running.popleft().result()
    finally:
        for future in running:  # the consumer stopped early: drop what has not started
            future.cancel()


_END = object()


def _done(futures):
    return all(future.done() for future in futures)


class ExplainStream:
    """Decode, explain and write overlapped (see the module docstring); pools live until
    ``close`` (or the end of a ``with`` block), so a Beam worker keeps them between elements."""

    def __init__(self, job, threads=None, in_flight=2):
        self.job = job
        threads = threads or job.settings.io_thread_count
        self.decoders = ThreadPoolExecutor(threads, thread_name_prefix="gradcam-decode")
        self.writers = ThreadPoolExecutor(threads, thread_name_prefix="gradcam-write")
        self.depth = max(2 * job.settings.batch_size, threads)
        self.in_flight = in_flight

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for pool in (self.decoders, self.writers):
            pool.shutdown(wait=True, cancel_futures=True)

    def run(self, items):
        """Lists of records (one per batch, in input order) of ``items`` (what ``ImageJob.decode``
        takes); each list is yielded once every file of its images is in place, so the caller may
        then mark them done."""
        job, size = self.job, self.job.settings.batch_size
        writing = deque()
        batch = []
        for item in ahead(job.decode, items, self.decoders, self.depth):
            batch.append(item)
            if len(batch) == size:
                writing.append(self._write(job.explain(batch)))
                batch = []
                while len(writing) > self.in_flight or (writing and _done(writing[0][1])):
                    yield self._records(writing.popleft())
        if batch:
            writing.append(self._write(job.explain(batch)))
        while writing:
            yield self._records(writing.popleft())

    def _write(self, explained):
        """Submit the writing of an explained batch's images -> (explained, their futures)."""
        good = [item for item in explained.items if item.image is not None]
        return explained, [
            self.writers.submit(self.job.write_one, item, explained, i)
            for i, item in enumerate(good)
        ]

    def _records(self, pending):
        explained, futures = pending
        return self.job.records(explained, [future.result() for future in futures])
