"""map_io: results in item order, the first failure in item order, nesting allowed."""
from __future__ import annotations

import threading
import time

import pytest

from storage.parallel_io import map_io


def test_results_keep_item_order_and_calls_overlap():
    seen: set[str] = set()

    def slow(x: int) -> int:
        seen.add(threading.current_thread().name)
        time.sleep(0.02 * (5 - x))            # later items finish first
        return x * x
    assert map_io(slow, range(5)) == [0, 1, 4, 9, 16]
    assert len(seen) > 1
    assert map_io(slow, [3]) == [9] and map_io(slow, []) == []


def test_the_first_failure_in_item_order_is_raised_after_all_calls():
    done: list[int] = []

    def f(x: int) -> int:
        if x in (1, 3):
            time.sleep(0.01 * (4 - x))
            raise ValueError(f"item {x}")
        time.sleep(0.03)
        done.append(x)
        return x
    with pytest.raises(ValueError, match="item 1"):
        map_io(f, range(5))
    assert sorted(done) == [0, 2, 4]


def test_nested_calls_do_not_deadlock():
    assert map_io(lambda x: sum(map_io(lambda y: y, range(x))), range(12), threads=2) == [
        sum(range(x)) for x in range(12)]
