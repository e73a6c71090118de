"""The gateway's doorbell: rows stored together are rung for together, off the event loop."""

from __future__ import annotations

import threading

from bounces.gateway import Doorbell


def test_rows_handed_over_together_are_rung_in_one_call() -> None:
    calls: list[list[int]] = []
    done = threading.Event()

    def ring(ids: list[int]) -> bool:
        calls.append(ids)
        if sum(len(c) for c in calls) >= 5:
            done.set()
        return True

    bell = Doorbell(ring, window=0.5, max_batch=100)
    try:
        bell.ring_many([1, 2, 3])
        bell.ring_many([4])
        bell.ring_many([])  # nothing stored that waits: nothing handed over
        bell.ring_many([5])
        assert done.wait(5)
    finally:
        bell.close(timeout=5)
    # All within one window: a single task for the five rows, in the order they were stored.
    assert calls == [[1, 2, 3, 4, 5]]


def test_a_full_batch_is_rung_without_waiting_for_the_window() -> None:
    calls: list[list[int]] = []
    rung = threading.Event()

    def ring(ids: list[int]) -> bool:
        calls.append(ids)
        rung.set()
        return True

    bell = Doorbell(ring, window=30, max_batch=3)
    try:
        bell.ring_many([1, 2, 3])
        # Far sooner than the 30-second window: the batch was full.
        assert rung.wait(5)
    finally:
        bell.close(timeout=5)
    assert calls[0] == [1, 2, 3]
