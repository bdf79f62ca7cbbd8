"""Download the official TF-Slim ImageNet checkpoints into the checkpoint home
(``gradcam.checkpoints.checkpoint_dir()``: ``$GRADCAM_HOME``, a source checkout's
``checkpoints/``, else ``~/.cache/gradcam``), one folder ``<name>/`` per network.

    gradcam download resnet_v2_50 [inception_v3 ...]   # or: all
    gradcam download resnet_v2_50 --url file:///mirror/resnet_v2_50_2017_04_14.tar.gz

From Python: ``gradcam.download.download("resnet_v2_50")``.

Each tarball comes from the network's ``download_url`` (download.tensorflow.org, listed in
``nets/nets_factory.py``) and is checked before anything lands in the checkpoint home:

- Integrity: ``KNOWN_SHA256`` holds official digests of the tarballs. The Slim model zoo does not
  publish any and they could not be fetched when this module was written, so the table is empty;
  instead the digest of the first download is recorded in ``<name>/SHA256`` and a later download
  (``force``) must match it (trust on first use).
- Contents: a valid gzip tar holding the checkpoint (``<checkpoint_file>.index`` + ``.data-*``, or
  the single ``<checkpoint_file>`` of the 2016 V1-format tarballs). A member with an absolute path,
  a ``..`` component, a link or a device refuses the whole tarball.
- Atomicity: the checkpoint files are unpacked into a temporary directory beside the target, which
  is then renamed to ``<name>/``, so that directory is either complete or untouched.

Without network the command prints one line (``gradcam: error: cannot download ...``) and exits 2.
"""

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from gradcam.checkpoints import checkpoint_dir
from gradcam.errors import UserError
from nets.nets_factory import NETWORKS

KNOWN_SHA256 = {}  # tarball file name -> official sha256 (none published; see the docstring)
DIGEST_FILE = "SHA256"
TIMEOUT_SECONDS = 30


def downloadable():
    """Registered networks that have an official tarball."""
    return sorted(name for name, spec in NETWORKS.items() if spec.download_url)


def fetch_url(url, destination):
    """Stream ``url`` to ``destination`` with a tqdm progress bar; returns the sha256 hex digest."""
    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response,
            open(destination, "wb") as out,
        ):
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=Path(url).name, disable=None
            ) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        hint = "" if url.startswith("file:") else " (no network?)"
        raise UserError(f"cannot download {url}: {reason}{hint}") from None
    return digest.hexdigest()


def _checked_members(tar, label):
    """All regular-file members; refuses unsafe names, links and special files."""
    files = []
    for member in tar.getmembers():
        parts = PurePosixPath(member.name).parts
        if member.name.startswith(("/", "\\")) or os.path.isabs(member.name) or ".." in parts:
            raise UserError(f"{label}: refusing unsafe member path {member.name!r}")
        if member.isfile():
            files.append(member)
        elif not member.isdir():
            raise UserError(f"{label}: refusing link or special file {member.name!r}")
    return files


def checkpoint_members(tar, checkpoint_file, label):
    """The checkpoint's members of an open tar (matched by base name), after checking every member;
    ``label`` names the tarball in errors."""
    try:
        files = _checked_members(tar, label)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UserError(f"{label} is not a valid gzip tar: {exc}") from None
    wanted = [
        m
        for m in files
        if PurePosixPath(m.name).name == checkpoint_file
        or PurePosixPath(m.name).name.startswith(checkpoint_file + ".")
    ]
    names = {PurePosixPath(m.name).name for m in wanted}
    v2 = f"{checkpoint_file}.index" in names and any(".data-" in n for n in names)
    if not (v2 or checkpoint_file in names):
        raise UserError(
            f"{label} does not contain the checkpoint {checkpoint_file} "
            f"(.index + .data-*, or a single V1 file)"
        )
    if len(names) != len(wanted):
        raise UserError(f"{label} holds two checkpoint files with the same name")
    return wanted


def _open_tar(archive, label):
    try:
        return tarfile.open(archive, "r:gz")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UserError(f"{label} is not a valid gzip tar: {exc}") from None


def install(archive, checkpoint_file, target, digest, tarball_name):
    """Unpack the checkpoint of ``archive`` into ``target`` (a directory) atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    old = None
    try:
        with _open_tar(archive, tarball_name) as tar:
            members = checkpoint_members(tar, checkpoint_file, tarball_name)
            for member in members:
                with (
                    tar.extractfile(member) as source,
                    open(staging / PurePosixPath(member.name).name, "wb") as out,
                ):
                    try:
                        shutil.copyfileobj(source, out)
                    except (tarfile.TarError, EOFError, zlib.error) as exc:
                        raise UserError(f"{tarball_name} is truncated or corrupt: {exc}") from None
        (staging / DIGEST_FILE).write_text(f"{digest}  {tarball_name}\n")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / target.name)
        try:
            os.replace(staging, target)
        except OSError:
            if old is not None:  # put the previous installation back
                os.replace(old / target.name, target)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def expected_digest(tarball_name, target):
    """The digest a download must have: the official one, else the one recorded earlier."""
    if tarball_name in KNOWN_SHA256:
        return KNOWN_SHA256[tarball_name]
    recorded = Path(target) / DIGEST_FILE
    if recorded.is_file():
        return recorded.read_text().split()[0]
    return None


def is_installed(spec, target):
    base = Path(target) / spec.checkpoint_file
    return Path(str(base) + ".index").is_file() or base.is_file()


def download(name, directory=None, url=None, force=False):
    """Download, verify and install one network's checkpoint.

    Args:
        name: a registered network with a ``download_url`` (``downloadable()``).
        directory: the checkpoint home (default: ``gradcam.checkpoints.checkpoint_dir()``); the
            checkpoint lands in ``directory/name/``.
        url: download from this URL instead (a mirror; ``file://`` works).
        force: download even when the checkpoint is already there.

    Returns:
        A one-line status.

    Raises:
        UserError: no such network, no network connection, a tarball that is not a gzip tar,
            lacks the checkpoint, holds an unsafe member or has another digest than expected;
            the checkpoint home is then as it was.
    """
    if name not in NETWORKS or (not NETWORKS[name].download_url and url is None):
        raise UserError(
            f"{name!r} has no checkpoint to download; choose from {', '.join(downloadable())}"
        )
    spec = NETWORKS[name]
    directory = Path(checkpoint_dir() if directory is None else directory)
    target = directory / name
    if is_installed(spec, target) and not force:
        return f"{name}: already in {target} (--force downloads again)"
    url = url or spec.download_url
    tarball_name = Path(url).name
    directory.mkdir(parents=True, exist_ok=True)
    fd, archive = tempfile.mkstemp(prefix=f".{tarball_name}.", suffix=".part", dir=directory)
    os.close(fd)
    try:
        digest = fetch_url(url, archive)
        expected = expected_digest(tarball_name, target)
        if expected is not None and digest != expected:
            raise UserError(
                f"{tarball_name} has sha256 {digest}, expected {expected}; "
                "refusing it (corrupt or changed upstream)"
            )
        install(archive, spec.checkpoint_file, target, digest, tarball_name)
    finally:
        os.unlink(archive)
    return f"{name}: installed {target / spec.checkpoint_file} (sha256 {digest[:16]}...)"
