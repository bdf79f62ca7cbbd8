"""``--option KEY=VALUE`` for method options (repeatable). ``KEY`` may be ``METHOD.KEY`` to aim at
one method when several run (``gradcam compare``); values are Python literals or plain strings."""

import ast

from gradcam.errors import UserError
from gradcam.methods import get_method


def _value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_options(items):
    """["k=v", "m.k=v"] -> {(None | method, key): value}."""
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--option {item!r}: expected KEY=VALUE")
        method, _, name = key.rpartition(".")
        if method:
            get_method(method)
        parsed[(method or None, name)] = _value(value)
    return parsed


def options_for(method, parsed, strict, seed=None):
    """The options meant for ``method`` (a registry Method). ``strict``: every unscoped option must
    be one of its own (single method); otherwise unscoped options go only where they fit.
    ``seed`` (``--seed``) goes to methods that take one, unless an option set it."""
    chosen = {}
    for (scope, name), value in parsed.items():
        if scope == method.name or (scope is None and (strict or name in method.options)):
            chosen[name] = value
    if seed is not None and "seed" in method.options:
        chosen.setdefault("seed", seed)
    method.check_options(chosen)
    return chosen
