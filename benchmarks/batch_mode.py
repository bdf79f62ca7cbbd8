"""``gradcam batch`` throughput against raw fwd+bwd, and its peak memory for two folder sizes.

Memory is sampled (psutil RSS every 20 ms in a thread) during each run, so the two runs in one
process are compared by their own peaks; ``ru_maxrss`` (the whole process's peak) is reported too.
"""

import resource
import tempfile
import threading
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from gradcam.batch import JobSettings, run_batch


def write_folder(directory, photos, count):
    """``count`` JPEG files cycling through ``photos`` (RGB uint8), each slightly different."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        photo = photos[i % len(photos)].astype(np.int16) + rng.integers(-3, 4, size=3)
        Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(
            directory / f"img{i:04d}.jpg", quality=90
        )


class PeakRss:
    """Highest resident set size of this process seen while the block runs (MiB)."""

    def __enter__(self):
        self.peak, self._stop = 0, threading.Event()
        self._process = psutil.Process()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while True:
            self.peak = max(self.peak, self._process.memory_info().rss)
            if self._stop.wait(0.02):
                return

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = self.peak / 2**20


def batch_runs(model, photos, sizes, batch_size, method="grad_cam"):
    """One ``run_batch`` per folder size -> rows with images/s and peak RSS during the run."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = JobSettings(model=model.name, method=method, batch_size=batch_size)
        for count in sizes:
            folder = Path(tmp) / f"in{count}"
            write_folder(folder, photos, count)
            with PeakRss() as rss:
                summary = run_batch(
                    model, str(folder), str(Path(tmp) / f"out{count}"), settings, progress=False
                )
            rows.append(
                {
                    "images": count,
                    "images_per_second": summary["images"] / summary["seconds"],
                    "seconds": summary["seconds"],
                    "peak_rss_mb": rss.peak_mb,
                    "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                }
            )
    return rows
