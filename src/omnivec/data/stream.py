"""Infinite, seeded batch streams with a resumable position.

The order of epoch ``e`` is a permutation drawn from ``seed`` and ``e`` alone, so a stream's whole state is
``(epoch, position)``: resuming rebuilds the same order and skips to the position, without replaying data.
Under data parallelism each rank takes every ``world_size``-th index of the same permutation, so the ranks
together take a prefix of it, which lets a run resume on another number of ranks where it stopped.
Unreadable samples (:class:`Skipped`) are dropped from the batch, counted and kept for the epoch report; a
whole epoch without one readable sample is an error naming the files and why (it used to loop forever).
Training augmentation, when given, draws from a generator seeded by ``(seed, epoch, position)`` alone, so a
resumed stream augments every batch exactly as the uninterrupted one did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from omnivec.data.base import Skipped, drop_skipped
from omnivec.errors import OmnivecError

SHOWN = 5
"""Unreadable files named in the error of an epoch without a readable sample (then a count of the rest)."""


def _identity(items: list[Any]) -> list[Any]:
    return items


class BatchStream:
    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        seed: int,
        collate: Callable[[list[tuple[Any, Any]]], Any],
        num_workers: int = 0,
        rank: int = 0,
        world_size: int = 1,
        name: str = "",
        augment: Callable[[Any, torch.Generator], Any] | None = None,
    ) -> None:
        self.dataset = dataset
        self.n = len(dataset)  # type: ignore[arg-type]
        if self.n < world_size or self.n == 0:
            raise OmnivecError(f"{name or 'dataset'} has {self.n} samples, fewer than {max(1, world_size)} rank(s)")
        if batch_size < 1:
            raise OmnivecError(f"{name or 'dataset'}: batch size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.seed = seed
        self.collate = collate
        self.num_workers = num_workers
        self.rank, self.world_size = rank, world_size
        self.name = name
        self.augment = augment
        self.epoch = 0
        self.position = 0  # batches already taken in this epoch
        self.skipped: list[Skipped] = []
        self.on_epoch_end: Callable[[BatchStream, list[Skipped]], None] | None = None
        self._it: Iterator[list[Any]] | None = None
        self._readable_in_epoch = False
        self._epoch_from_start = True

    def _order(self, epoch: int) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        perm = torch.randperm(self.n, generator=g)[self.rank :: self.world_size].tolist()
        per_rank = self.n // self.world_size  # every rank takes the same number of batches
        perm = perm[:per_rank]
        bs = self.batch_size
        return [perm[i : i + bs] for i in range(0, len(perm) - bs + 1, bs)] or [perm]

    def _start(self) -> None:
        batches = self._order(self.epoch)[self.position :]
        # Own generator: iterating a DataLoader draws its worker base seed from the global RNG otherwise, so a
        # resumed stream would shift every later random draw (masks, dropout) and break bit-exact resume.
        loader = DataLoader(
            self.dataset,
            batch_sampler=batches,
            collate_fn=_identity,
            num_workers=self.num_workers,
            persistent_workers=False,
            generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch),
        )
        self._it = iter(loader)

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> Any:
        while True:
            if self._it is None:
                self._epoch_from_start = self.position == 0
                self._readable_in_epoch = False
                self._start()
            assert self._it is not None
            try:
                items = next(self._it)
            except StopIteration:
                if self.on_epoch_end is not None:
                    self.on_epoch_end(self, self.skipped)
                if self._epoch_from_start and not self._readable_in_epoch:
                    raise self._unreadable_epoch() from None
                self.epoch, self.position, self._it, self.skipped = self.epoch + 1, 0, None, []
                continue
            self.position += 1
            kept, skipped = drop_skipped(items)
            self.skipped.extend(skipped)
            if kept:
                self._readable_in_epoch = True
                batch = self.collate(kept)
                if self.augment is not None:
                    g = torch.Generator().manual_seed((self.seed * 100_003 + self.epoch) * 1_000_003 + self.position)
                    batch = self.augment(batch, g)
                return batch

    def _unreadable_epoch(self) -> OmnivecError:
        seen = list(dict.fromkeys(self.skipped))
        shown = "; ".join(f"{s.path} ({s.reason})" for s in seen[:SHOWN])
        more = f"; and {len(seen) - SHOWN} more" if len(seen) > SHOWN else ""
        return OmnivecError(
            f"{self.name or 'dataset'}: no readable sample in a whole epoch of {self.n} item(s): {shown}{more}"
        )

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "world_size": self.world_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue at ``state``'s place. A state saved under another world size (a run checkpointed on 2 ranks
        resumed on 1, or back) names a position in batches *per rank*; it is converted so the epoch continues at
        the first sample no rank has taken yet: ``position`` batches on each of ``W`` ranks took the first
        ``position * W * batch_size`` samples of the epoch's permutation (rank r every W-th), and the new ranks
        together take the same prefix in ``position * W / W'`` batches. Where that is not whole (1 rank -> 2 at
        an odd position) it rounds down: up to one global batch of this epoch is seen twice."""
        saved_world = int(state.get("world_size", self.world_size))  # older states: the same world size
        position = int(state["position"]) * saved_world // self.world_size
        self.epoch, self.position, self._it = int(state["epoch"]), position, None
