"""Dynamic batching: requests that arrive within a few milliseconds of each other and ask for the same thing
(the same operation on the same modality and task) run as one forward pass.

A model call has a fixed cost (Python, kernel launches, a GPU round trip) that a batch of 32 pays once, so under
concurrent load batching multiplies throughput for the price of at most ``max_wait_ms`` of latency; alone, a
request waits that long at most. One worker thread owns the model, so requests never run it concurrently
(neither torch modules nor a GPU gain from that). The design follows the dynamic batcher of NVIDIA Triton and
TorchServe (``max_batch_delay``): the first request opens a window, the batch closes when it is full or the
window ends.

A batch that fails is retried one request at a time, so one bad input fails only its own request.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

RunBatch = Callable[[Hashable, list[Any]], list[Any]]
"""``(key, items) -> one result per item``: what the worker calls for a batch of requests with the same key."""


@dataclass
class _Job:
    key: Hashable
    item: Any
    future: Future = field(default_factory=Future)


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    largest: int = 0

    def as_dict(self) -> dict[str, float]:
        mean = self.items / self.batches if self.batches else 0.0
        return {"batches": self.batches, "items": self.items, "largest": self.largest, "mean": round(mean, 2)}


class Batcher:
    """Collects submitted items into batches of one key and runs them on a background thread."""

    def __init__(self, run_batch: RunBatch, max_batch: int = 32, max_wait_ms: float = 5.0) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, not {max_batch}")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.stats = BatchStats()
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._pending: deque[_Job] = deque()  # taken from the queue while collecting another key's batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="omnivec-batcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def submit(self, key: Hashable, item: Any) -> Future:
        """Queue ``item``; the future resolves to its result (or raises its error)."""
        job = _Job(key, item)
        self._queue.put(job)
        return job.future

    # ------------------------------------------------------------------ the worker

    def _next(self, timeout: float) -> _Job | None:
        if self._pending:
            return self._pending.popleft()
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _collect(self, first: _Job) -> list[_Job]:
        batch = [first]
        for job in list(self._pending):  # same-key jobs set aside earlier go first, in arrival order
            if len(batch) == self.max_batch:
                break
            if job.key == first.key:
                self._pending.remove(job)
                batch.append(job)
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                job = self._queue.get(timeout=left)
            except queue.Empty:
                break
            (batch if job.key == first.key else self._pending).append(job)
        return batch

    def _loop(self) -> None:
        while not self._stop.is_set():
            first = self._next(timeout=0.1)
            if first is None:
                continue
            batch = self._collect(first) if self.max_batch > 1 else [first]
            self._run(batch)

    def _run(self, batch: list[_Job]) -> None:
        self.stats.batches += 1
        self.stats.items += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        try:
            results = self.run_batch(batch[0].key, [j.item for j in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
        except Exception as e:
            if len(batch) == 1:
                batch[0].future.set_exception(e)
                return
            for job in batch:  # find which input failed: each request gets its own result or error
                self._run([job])
            return
        for job, r in zip(batch, results):
            job.future.set_result(r)
