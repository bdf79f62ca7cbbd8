"""The images of a batch job's INPUT and the flat output name of each."""

import glob
import os
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from gradcam.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


class Inputs(NamedTuple):
    """The planned inputs of a run: sorted image paths and the root their output names hang off."""

    paths: list
    root: Path


def is_image_name(name):
    """True for a file name a folder listing counts as an image: an image suffix, not hidden."""
    name = PurePosixPath(name).name
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith(".")


def list_inputs(source):
    """``Inputs`` (sorted image paths, root directory) of a directory (recursive), a glob or one
    file. In a directory only files with an image suffix count; a glob takes every file it
    matches."""
    path = Path(source)
    if path.is_dir():
        files = [f for f in path.rglob("*") if f.is_file() and is_image_name(f.name)]
        root = path
    elif glob.has_magic(str(source)):
        files = [Path(f) for f in glob.glob(str(source), recursive=True) if Path(f).is_file()]
        root = Path(os.path.commonpath([str(f.parent) for f in files])) if files else None
    elif path.is_file():
        files, root = [path], path.parent
    else:
        raise UserError(f"{source}: no such directory or file, and not a glob pattern")
    if not files:
        raise UserError(f"{source}: no images found")
    files = sorted(files)
    seen = {}
    for path in files:  # sub-folders flatten into names: two inputs must not share one output
        other = seen.setdefault(output_name(path, root), path)
        if other != path:
            raise UserError(
                f"{other} and {path} would both write {output_name(path, root)}.*; rename one"
            )
    return Inputs(files, root)


def output_name(path, root):
    """A unique, flat output name for an input: its path under ``root`` with '/' as '__' (local
    paths or filesystem URLs such as s3://bucket/photos/a.jpg under s3://bucket/photos)."""
    return "__".join(PurePosixPath(str(path)).relative_to(PurePosixPath(str(root))).parts)
