"""`callpulse replay --shuffle-frames N`: frames out of order, each at most N - 1 places from its own."""

from __future__ import annotations

import numpy as np

from streams.replay import bounded_shuffle


def test_bounded_shuffle_is_a_permutation_with_bounded_displacement():
    order = bounded_shuffle(1003, 8, seed=5)
    assert sorted(order.tolist()) == list(range(1003))
    moved = np.abs(order - np.arange(1003))
    assert moved.max() <= 7 and (moved > 0).mean() > 0.5


def test_no_shuffle_keeps_the_order():
    assert bounded_shuffle(50, 0).tolist() == list(range(50))
    assert bounded_shuffle(50, 1).tolist() == list(range(50))
