"""What every dataset loader shares: :data:`LOADERS` (dataset name -> loader, a
:class:`~omnivec.registry.Registry`), :func:`load_dataset`, and the deterministic subsets (:func:`subsample`)
and lazy per-sample conversion (:class:`LazySeq`) the loaders build their splits with.

``load_dataset(name, root)`` returns :class:`TaskSplits` per the contract in :mod:`omnivec.data.base`:
MNIST / Fashion-MNIST images as float32 (1, 28, 28) in [0, 1] (converted lazily, one sample at a time),
FSDD audio as 1-D float32 at ``sample_rate``, Banking77 and SciTLDR as text. ``limit`` takes a deterministic
subset of every split (a seeded permutation, kept in file order) for benchmarks and tests. Dataset cards:
``docs/data.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from omnivec.data.base import TaskSplits
from omnivec.data.datasets.cards import info
from omnivec.data.root import StrPath
from omnivec.registry import Registry

LOADERS: Registry[Callable[..., TaskSplits]] = Registry("dataset loader")
"""Each loader module registers its datasets' loaders (``@LOADERS.register("mnist")``)."""


class LazySeq(Sequence[Any]):
    """A read-only sequence computing item ``i`` on access (e.g. uint8 -> float image), so a 60k-image split
    costs its uint8 bytes, not 4x that in float32."""

    def __init__(self, n: int, get: Callable[[int], Any]) -> None:
        self._n, self._get = n, get

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._get(j) for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return self._get(i % self._n)


def subsample(n: int, limit: int | None, seed: int = 0) -> np.ndarray:
    """Indices of a deterministic subset of ``range(n)`` of size ``limit`` (all if None), in order."""
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


def load_dataset(name: str, root: StrPath | None = None, **kwargs: Any) -> TaskSplits:
    """Load a named dataset's fixed splits; kwargs go to its loader (limit, seed, ...)."""
    info(name)
    return LOADERS.get(name)(root, **kwargs)
