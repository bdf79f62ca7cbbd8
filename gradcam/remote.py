"""Model files and Slim checkpoints named by URL (gs://, s3://, hdfs://, ... through Beam's
filesystems; http:// and https:// through urllib), fetched into a local cache.

The driver fetches the files once and measures them (``Fetched``: total size and SHA-256); each
worker then fetches its own copy into its own cache and uses it only when size and hash match
(a copy that matches from an earlier run is used without fetching again). Downloads go to a
temporary name in the cache and are renamed into place, so an interrupted fetch leaves nothing
that looks complete. Cache: ``$GRADCAM_HOME/remote`` (see ``gradcam.checkpoints``).
"""

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

from gradcam.checkpoints import checkpoint_dir
from gradcam.errors import UserError
from gradcam.storage import describe, filesystem_of

HTTP_SCHEMES = ("http", "https")
CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class Fetched:
    """A local copy: ``path`` (a model file, or a checkpoint prefix), the total ``size`` in bytes
    and the ``sha256`` of its files' bytes in name order."""

    path: str
    size: int
    sha256: str


def is_remote(location):
    """True for a URL (any scheme), False for a local path."""
    return location is not None and FileSystems.get_scheme(str(location)) is not None


def cache_folder(url):
    """This process's cache folder of ``url``."""
    key = hashlib.sha256(url.encode()).hexdigest()[:20]
    return checkpoint_dir() / "remote" / key


def _sources(url, checkpoint):
    """[(url, name)] of the files to fetch: the file itself, or every file of the checkpoint
    prefix (``prefix.index``, ``prefix.data-*``)."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    if not checkpoint:
        return [(url, name)]
    if FileSystems.get_scheme(url) in HTTP_SCHEMES:
        suffixes = (".data-00000-of-00001", ".index")  # in name order, as matched files are
        return [(f"{url}{suffix}", f"{name}{suffix}") for suffix in suffixes]
    filesystem_of(url)
    try:
        found = sorted(m.path for m in FileSystems.match([f"{url}.*"])[0].metadata_list)
    except Exception as exc:  # any filesystem's error
        raise UserError(f"cannot read {url}: {describe(exc)}") from None
    if not found:
        raise UserError(f"{url}: no checkpoint files ({name}.index, {name}.data-*) found")
    return [(path, path.rsplit("/", 1)[-1]) for path in found]


def _open(url):
    if FileSystems.get_scheme(url) in HTTP_SCHEMES:
        return urllib.request.urlopen(url, timeout=60)  # noqa: S310 (the user's own URL)
    filesystem_of(url)
    return FileSystems.open(url)


def _download(url, target, digest):
    """Copy ``url`` to ``target`` (through a temporary file), feeding ``digest``; -> bytes."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out, _open(url) as source:
            while block := source.read(CHUNK):
                out.write(block)
                digest.update(block)
                size += len(block)
        os.replace(tmp, target)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, (UserError, KeyboardInterrupt)):
            raise
        if isinstance(exc, Exception):
            raise UserError(f"cannot fetch {url}: {describe(exc)}") from None
        raise
    return size


def _measure(paths):
    digest, size = hashlib.sha256(), 0
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
                size += len(block)
    return size, digest.hexdigest()


def fetch(url, *, checkpoint=False, size=None, sha256=None):
    """A checked local copy of the model file (or, with ``checkpoint``, the checkpoint prefix)
    ``url``. With ``size`` and ``sha256`` (what the driver measured) a cached copy that matches
    is used as it is, and a fresh one that does not is an error; without them (the driver) the
    files are always fetched afresh and measured."""
    folder = cache_folder(url)
    sources = _sources(url, checkpoint)
    local = [folder / name for _, name in sources]
    path = str(folder / url.rstrip("/").rsplit("/", 1)[-1])
    if size is not None and all(p.exists() for p in local) and _measure(local) == (size, sha256):
        return Fetched(path=path, size=size, sha256=sha256)
    folder.mkdir(parents=True, exist_ok=True)
    digest, total = hashlib.sha256(), 0
    for (source, _), target in zip(sources, local):
        total += _download(source, target, digest)
    fetched = Fetched(path=path, size=total, sha256=digest.hexdigest())
    if size is not None and (fetched.size, fetched.sha256) != (size, sha256):
        forget(url)
        raise UserError(
            f"{url} changed since the run started: {fetched.size} bytes, SHA-256 "
            f"{fetched.sha256[:12]}..., expected {size} bytes, {sha256[:12]}..."
        )
    return fetched


def forget(url):
    """Remove the cached copy of ``url`` (a fetched file that turned out not to be a model)."""
    shutil.rmtree(cache_folder(url), ignore_errors=True)
