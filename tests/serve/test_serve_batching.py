"""The dynamic batcher: requests with the same key that arrive together run as one batch (up to max_batch),
different keys never mix, results return to the right request, and one failing input fails only itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from typing import Any

import pytest

from omnivec.serve.batching import Batcher


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Hashable, list[Any]]] = []
        self.lock = threading.Lock()

    def __call__(self, key: Hashable, items: list[Any]) -> list[Any]:
        with self.lock:
            self.calls.append((key, list(items)))
        if any(x == "bad" for x in items):
            raise ValueError("bad item")
        return [(key, x * 10) for x in items]


def run_all(b: Batcher, jobs: list[tuple[str, Any]]) -> list[Any]:
    futures = [b.submit(k, x) for k, x in jobs]  # queued before the worker starts: they arrive "together"
    b.start()
    try:
        return [f.result(timeout=5) for f in futures]
    finally:
        b.stop()


def test_concurrent_items_share_a_batch_and_keep_their_results() -> None:
    rec = Recorder()
    b = Batcher(rec, max_batch=8, max_wait_ms=200)
    assert run_all(b, [("k", i) for i in range(5)]) == [("k", i * 10) for i in range(5)]
    assert rec.calls == [("k", [0, 1, 2, 3, 4])]
    assert b.stats.as_dict() == {"batches": 1, "items": 5, "largest": 5, "mean": 5.0}


def test_max_batch_and_keys() -> None:
    rec = Recorder()
    jobs = [("a" if i % 2 == 0 else "b", i) for i in range(8)]
    assert run_all(Batcher(rec, max_batch=3, max_wait_ms=100), jobs) == [(k, i * 10) for k, i in jobs]
    assert all(len(items) <= 3 for _, items in rec.calls)
    assert all(all((x % 2 == 0) == (key == "a") for x in items) for key, items in rec.calls)  # keys never mix
    assert sorted(x for _, items in rec.calls for x in items) == list(range(8))
    assert next(items for key, items in rec.calls if key == "a") == [0, 2, 4]  # arrival order within a key


def test_unbatched_runs_one_at_a_time() -> None:
    rec = Recorder()
    run_all(Batcher(rec, max_batch=1), [("k", i) for i in range(4)])
    assert [items for _, items in rec.calls] == [[0], [1], [2], [3]]


def test_a_bad_item_fails_alone() -> None:
    rec = Recorder()
    b = Batcher(rec, max_batch=8, max_wait_ms=100)
    futures = [b.submit("k", x) for x in (1, "bad", 3)]
    b.start()
    try:
        assert futures[0].result(timeout=5) == ("k", 10) and futures[2].result(timeout=5) == ("k", 30)
        with pytest.raises(ValueError, match="bad item"):
            futures[1].result(timeout=5)
    finally:
        b.stop()
    assert rec.calls[0] == ("k", [1, "bad", 3])  # tried together first, then one by one
    assert [items for _, items in rec.calls[1:]] == [[1], ["bad"], [3]]


def test_a_lone_request_waits_at_most_the_window() -> None:
    b = Batcher(Recorder(), max_batch=32, max_wait_ms=50)
    b.start()
    try:
        t = time.perf_counter()
        assert b.submit("k", 1).result(timeout=5) == ("k", 10)
        assert time.perf_counter() - t < 1.0
    finally:
        b.stop()
