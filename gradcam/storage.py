"""Files of a Beam run through Beam's filesystems: local paths or any registered URL (gs://,
s3://, hdfs://, azfs://), read whole and written complete or not at all.

``write_file`` never leaves a partial file under the final name: object stores (s3, gs, azfs)
publish an object only when its upload completes, so it writes there directly; every other
filesystem gets a temporary name beside the target, then a rename (local: ``os.replace``
through ``visualize.atomic_write``). ``location`` turns a local relative path into an absolute
one on the driver (workers run elsewhere, in another working directory); URLs pass unchanged.
``check_readable`` / ``check_writable`` are the driver's early checks: one ``UserError`` line for
an unknown scheme, a missing bucket, missing credentials or an unreachable endpoint, before any
pipeline starts.
"""

import glob
import logging
import os
import shutil
import uuid

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from gradcam.batch import write_local
from gradcam.errors import UserError

# Filesystems whose objects appear only once complete (a killed upload leaves nothing visible)
WHOLE_OBJECT_SCHEMES = {"s3", "gs", "azfs"}


def scheme(url):
    """The URL scheme of ``url`` ("s3", "gs", ...), or None for a local path."""
    return FileSystems.get_scheme(str(url))


def is_url(location):
    return scheme(location) is not None


def is_folder(path):
    """True for an existing local folder (an object store has none: a URL is a prefix)."""
    return not is_url(path) and os.path.isdir(path)


def location(path):
    """``path`` as every worker can name it: local paths absolute, URLs as given."""
    path = str(path)
    return path if is_url(path) else os.path.abspath(path)


def filesystem_of(url):
    """UserError when no Beam filesystem serves ``url`` (an unknown scheme or a missing extra)."""
    try:
        return FileSystems.get_filesystem(str(url))
    except ValueError:
        raise UserError(
            f"{url}: no filesystem for {scheme(url)}:// (Beam serves local paths, "
            "gs:// with apache-beam[gcp], s3:// with apache-beam[aws], hdfs://, azfs://)"
        ) from None


def join(folder, name):
    return FileSystems.join(str(folder), name)


def exists(url):
    return FileSystems.exists(str(url))


def read_bytes(url):
    """The whole content of ``url``."""
    with FileSystems.open(str(url)) as handle:
        return handle.read()


def write_file(url, fill):
    """Write ``url`` complete or not at all: ``fill(handle)`` writes its bytes."""
    url = str(url)
    if not is_url(url):
        write_local(url, fill)
        return
    if scheme(url) in WHOLE_OBJECT_SCHEMES:
        _create(url, fill)
        return
    folder, name = FileSystems.split(url)
    temporary = FileSystems.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        _create(temporary, fill)
        FileSystems.rename([temporary], [url])
    except BaseException:
        if FileSystems.exists(temporary):
            FileSystems.delete([temporary])
        raise


def _create(url, fill):
    handle = FileSystems.create(url)
    fill(handle)
    handle.close()


def entries(folder, prefix, below=True):
    """What ``folder`` holds under names starting with ``prefix``: local files and folders, or
    (on an object store, which has no folders) the objects so named (``below``: every object
    below folders so named)."""
    if is_url(folder):
        pattern = join(folder, f"{prefix}*/**" if below else f"{prefix}*")
        return {m.path for m in FileSystems.match([pattern])[0].metadata_list}
    return set(glob.glob(os.path.join(glob.escape(folder), f"{prefix}*")))


def remove(found):
    """Delete ``found`` (from ``entries``): local folders with what they hold."""
    local = [path for path in found if not is_url(path)]
    for path in local:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.unlink(path)
    remote = sorted(set(found) - set(local))
    if remote:
        FileSystems.delete(remote)


def describe(exc):
    """One line for a filesystem error: Beam wraps the service's in BeamIOError's dict."""
    if isinstance(exc, BeamIOError) and exc.exception_details:
        exc = next(iter(exc.exception_details.values()))
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def check_readable(pattern):
    """UserError unless ``pattern`` matches at least one file (matched with a limit of one)."""
    filesystem_of(pattern)
    try:
        found = FileSystems.match([pattern], limits=[1])[0].metadata_list
    except Exception as exc:  # any filesystem's error: a missing bucket, credentials, endpoint
        raise UserError(f"cannot read {pattern}: {describe(exc)}") from None
    if not found:
        hint = (
            " (is the bucket right, and readable with these credentials?)"
            if is_url(pattern)
            else ""
        )
        raise UserError(f"{pattern}: no files found{hint}")


def check_writable(folder):
    """UserError unless a small file can be written in ``folder`` (then deleted again)."""
    filesystem_of(folder)
    probe = join(folder, f".gradcam-probe-{uuid.uuid4().hex}")
    logging.disable(logging.ERROR)  # Beam's S3 client logs the failed upload's traceback itself
    try:
        write_file(probe, lambda handle: handle.write(b"probe"))
        FileSystems.delete([probe])
    except UserError:
        raise
    except Exception as exc:  # any filesystem's error: a missing bucket, credentials, endpoint
        raise UserError(f"cannot write to {folder}: {describe(exc)}") from None
    finally:
        logging.disable(logging.NOTSET)
