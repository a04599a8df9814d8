"""The data contract shared by the generated data, the real datasets and bring-your-own folders.

A *sample* is what one modality's encoder ``collate`` takes:

=========  =====================================================================================
image      float32 tensor (C, H, W), values in [0, 1]
video      float32 tensor (C, T, H, W), values in [0, 1]
audio      float32 tensor (L,), mono waveform in [-1, 1] at the model's sample rate
text       str
points     float32 tensor (P, 3), centred and scaled to the unit sphere
=========  =====================================================================================

A *target* is an int class index (classification), a (H, W) int64 tensor of class indices (segmentation), or
another sample (retrieval pairs). A :class:`SampleDataset` yields ``(sample, target)``; a file that cannot be read
yields :class:`Skipped` instead of raising (unless strict), and the collate step drops it, counts it and reports it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from omnivec.config import RunConfig
from omnivec.errors import OmnivecError
from omnivec.registry import Registry
from omnivec.types import Modality


@dataclass(frozen=True)
class Skipped:
    """A sample that could not be loaded: which file and why."""

    path: str
    reason: str


def drop_skipped(items: Sequence[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], list[Skipped]]:
    """Split ``(sample, target, ...)`` tuples into the readable ones and the :class:`Skipped` records.

    Every consumer of a batch (the batch stream, evaluation, the baselines) calls this first, so a corrupt file
    costs one sample; the caller counts or reports the skipped records (a batch may come out smaller or empty)."""
    kept = [it for it in items if not isinstance(it[0], Skipped)]
    skipped = [it[0] for it in items if isinstance(it[0], Skipped)]
    return kept, skipped


class SampleDataset(Dataset):
    """A split of one task's data: ``(sample, target)`` pairs of one modality, plus the class names."""

    def __init__(
        self,
        modality: Modality | str,
        samples: Sequence[Any] | Tensor,
        targets: Sequence[Any],
        class_names: Sequence[str] = (),
        name: str = "",
    ) -> None:
        if len(samples) != len(targets):
            raise ValueError(f"{name or 'dataset'}: {len(samples)} samples but {len(targets)} targets")
        self.modality = Modality(modality) if modality in Modality._value2member_map_ else str(modality)
        self.samples = samples
        self.targets = targets
        self.class_names = list(class_names)
        self.name = name

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        return self.samples[i], self.targets[i]


@dataclass
class TaskSplits:
    """What a data source hands the trainer for one task."""

    train: Dataset
    test: Dataset
    modality: Modality | str
    kind: str = "classification"
    class_names: list[str] = field(default_factory=list)
    description: str = ""
    source: str = "generated"
    """'generated' for the built-in data, 'real' for staged datasets, 'byo' for the user's own."""


def label_subset(dataset: Dataset, fraction: float, seed: int, name: str) -> Dataset:
    """A seeded ``fraction`` of ``dataset`` (at least one sample), the same for every row of an experiment that
    shares the seed and the task, and nested: the 1 % subset lies inside the 10 % one. ``fraction`` 1 keeps all."""
    if not 0.0 < fraction <= 1.0:
        raise OmnivecError(f"label_fraction must be in (0, 1], got {fraction}")
    n = len(dataset)  # type: ignore[arg-type]
    keep = max(1, round(fraction * n))
    if keep >= n:
        return dataset
    g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    order = torch.randperm(n, generator=g)[:keep]
    return Subset(dataset, sorted(order.tolist()))


def holdout(dataset: Dataset, fraction: float, seed: int, name: str) -> tuple[Dataset, Dataset]:
    """``dataset`` split into (train, validation): a seeded ``fraction`` of its samples (at least one) held out
    for model selection, the rest kept for training; fixed by the seed and the task's name, so a resumed run
    carves the same split. A dataset of one sample cannot be split and is refused."""
    n = len(dataset)  # type: ignore[arg-type]
    if n < 2:
        raise OmnivecError(f"task {name!r}: {n} training sample(s); validation needs at least 2 to hold one out")
    held = min(n - 1, max(1, round(fraction * n)))
    g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(f"validation:{name}".encode()))
    order = torch.randperm(n, generator=g).tolist()
    return Subset(dataset, sorted(order[held:])), Subset(dataset, sorted(order[:held]))


@dataclass(frozen=True)
class TaskEntry:
    """A named task of the catalogue (:mod:`omnivec.data.task_catalog`): how to build its splits from a run
    config, and what the splits hold."""

    name: str
    kind: str
    modality: str
    build: Callable[[RunConfig], TaskSplits]
    group: str = "simple"
    source: str = "generated"
    pair_modality: str = ""
    description: str = ""


TASKS: Registry[TaskEntry] = Registry("task")


def register_task(entry: TaskEntry) -> TaskEntry:
    return TASKS.register(entry.name)(entry)
