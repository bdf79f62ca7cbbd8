"""Beam's filesystem options on every worker process.

``FileSystems`` reads its options (``--s3_endpoint_url``, credentials, ...) from a class-level
setting that Beam fills in the driver's process (``Pipeline``) and in portable SDK workers; the
Dask runner's worker processes never get it. ``FilesystemOptions`` passes its elements through
unchanged and sets the options in its ``setup``, so a step placed before the first filesystem
access of a worker (``fileio.MatchAll`` here) finds them set.
"""

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions


def set_filesystem_options(flags):
    """Set this process's FileSystems options from Beam command-line ``flags``."""
    FileSystems.set_options(PipelineOptions(list(flags)))


class FilesystemOptions(beam.DoFn):
    """Sets this worker's filesystem options (``set_filesystem_options``); elements pass through."""

    def __init__(self, flags):
        self.flags = list(flags)

    def setup(self):
        set_filesystem_options(self.flags)

    def process(self, element):
        yield element
