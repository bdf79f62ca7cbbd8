"""Repeated explanations neither grow the graph nor change their answer (scripts/stability.py runs
the same check 1000 times and prints memory)."""

import numpy as np

from gradcam.explanation import explain


def test_grad_cam_op_count_fixed_and_deterministic(lite0, cat_input, coffee_input):
    images, targets = np.stack([cat_input, coffee_input]), [281, 967]
    first = explain(lite0, images, targets)
    ops = lite0.op_count
    for _ in range(20):
        again = explain(lite0, images, targets)
        assert np.array_equal(again.map, first.map) and np.array_equal(again.raw, first.raw)
    assert lite0.op_count == ops


def test_seeded_smoothgrad_is_repeatable(lite0, cat_input):
    runs = [explain(lite0, cat_input[None], 281, "smoothgrad", samples=3, seed=7) for _ in range(3)]
    ops = lite0.op_count
    runs.append(explain(lite0, cat_input[None], 281, "smoothgrad", samples=3, seed=7))
    assert lite0.op_count == ops
    assert all(np.array_equal(run.map, runs[0].map) for run in runs[1:])
    other_seed = explain(lite0, cat_input[None], 281, "smoothgrad", samples=3, seed=8)
    assert not np.array_equal(other_seed.raw, runs[0].raw)  # the seed is really used
