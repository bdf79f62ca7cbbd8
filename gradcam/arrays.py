"""Small array helpers shared by the model and the methods: batch slices and distinct rows."""
import numpy as np

from gradcam.errors import UserError


def batch_slices(n, batch_size):
    """Slices of consecutive rows covering ``n`` rows, ``batch_size`` at a time."""
    if batch_size < 1:
        raise UserError(f"{{argument}} must be at least 1, got {batch_size}", "batch_size")
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def distinct_rows(rows):
    """(index of each distinct row's first occurrence, index of every row into those), in order of
    first occurrence (``np.unique(axis=0)`` would sort them): rows that repeat one image share its
    work."""
    slots, firsts, index = {}, [], []
    for i, row in enumerate(rows):
        key = row.tobytes()
        if key not in slots:
            slots[key] = len(firsts)
            firsts.append(i)
        index.append(slots[key])
    return np.asarray(firsts, np.int64), np.asarray(index, np.int64)
