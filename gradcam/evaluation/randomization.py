"""Cascading model-parameter randomisation (Adebayo et al. 2018, "Sanity Checks for Saliency
Maps", NeurIPS).

The variables of a ``Model`` are grouped by layer (the scope below the network's own scope:
``logits``, ``head``, ``block_15`` .. ``block_0``, ``stem`` for EfficientNet-Lite0) and ordered
from the output down. Randomising the groups one after another, top first, destroys more and more
of what the network learned; a map that does not change is not explaining the model. Values are
re-drawn in the same session with ``Variable.load`` (no op is added to the graph) and every
original value is put back bit-exactly when the context exits.

Random values keep each variable's scale: a normal draw with the variable's mean and standard
deviation (log-normal, matched on the logs of its positive values, for non-negative variables
such as batch-norm variances), so activations neither vanish nor overflow, while the learned
structure is gone.
"""

import contextlib
from collections import OrderedDict

import numpy as np

from nets.tf_compat import tf


def model_variables(model):
    with model.graph.as_default():
        return list(tf.global_variables())


def layer_groups(model):
    """OrderedDict layer name -> variables, from the output layer down to the input layer."""
    groups = OrderedDict()
    for var in model_variables(model):
        parts = var.op.name.split("/")
        groups.setdefault(parts[1] if len(parts) > 2 else parts[0], []).append(var)
    return OrderedDict(reversed(list(groups.items())))


def random_like(value, rng):
    """Random array of ``value``'s shape and dtype with its location and spread."""
    value = np.asarray(value)
    flat = value.astype(np.float64).ravel()
    if flat.size == 0:
        return value.copy()
    if flat.min() >= 0 and flat.max() > 0:  # variances: stay positive
        logs = np.log(flat[flat > 0])
        draw = np.exp(rng.normal(logs.mean(), logs.std() or 0.1, value.shape))
    else:
        draw = rng.normal(flat.mean(), flat.std() or max(abs(flat.mean()), 1.0) * 0.1, value.shape)
    return draw.astype(value.dtype)


def randomize(model, variables, rng):
    """Load random values (see ``random_like``) into ``variables`` in the model's session."""
    for var, value in zip(variables, model.session.run(variables)):
        var.load(random_like(value, rng), model.session)


@contextlib.contextmanager
def preserved_weights(model, variables=None):
    """Keep a copy of ``variables`` (default: all) and load it back on exit, even on errors.
    Only variables whose value changed are loaded (each load is one session run)."""
    variables = model_variables(model) if variables is None else list(variables)
    saved = model.session.run(variables)
    try:
        yield saved
    finally:
        for var, value, now in zip(variables, saved, model.session.run(variables)):
            if not np.array_equal(value, now, equal_nan=True):
                var.load(value, model.session)


@contextlib.contextmanager
def cascading_randomization(model, groups=None, seed=0):
    """``with cascading_randomization(model) as steps: for layer in steps: ...``

    Each step randomises one more layer group (default: all, output first) on top of the previous
    ones and yields its name; all weights are restored when the block exits.
    """
    available = layer_groups(model)
    names = list(available) if groups is None else list(groups)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown layer group {unknown[0]!r}; groups: {', '.join(available)}")
    rng = np.random.default_rng(seed)

    def steps():
        for name in names:
            randomize(model, available[name], rng)
            yield name

    with preserved_weights(model, [v for n in names for v in available[n]]):
        yield steps()
