"""How a batch becomes a loss, a metric and predictions, per task kind. Models own predictions' tensors;
tasks own losses and metrics."""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor

from omnivec.config import TaskConfig
from omnivec.registry import Registry


class Metric(Protocol):
    def update(self, out: Any, targets: Any) -> None: ...

    def compute(self) -> dict[str, float]: ...


class TaskKind:
    """Subclasses implement one kind (classification, segmentation, retrieval)."""

    primary_metric: str = "accuracy"
    paired: bool = False
    """A sample is a pair of inputs of two modalities (``modality``, ``pair_modality``) trained to meet in one
    embedding space: such a task has no classes, gives masked pretraining no single-modality stream, and its
    head is a space to embed and search in."""
    default_loss_weight: float = 1.0
    """The weight a task of this kind gets in a shared step unless its config says otherwise."""

    def collate(self, model: Any, task: TaskConfig, items: list[tuple[Any, Any]]) -> tuple[Any, Any]:
        """Items whose sample is :class:`Skipped` must already be filtered out by the caller."""
        samples = [s for s, _ in items]
        return model.collate(task.modality, samples), self.collate_targets([t for _, t in items])

    def collate_targets(self, targets: list[Any]) -> Tensor:
        return torch.as_tensor(targets, dtype=torch.long)

    def augment(self, model: Any, task: TaskConfig, batch: tuple[Any, Any], g: torch.Generator) -> tuple[Any, Any]:
        """A training batch through its encoder's augmentation (targets unchanged); kinds with spatial targets
        or paired inputs override it."""
        inp, _ = model.encoder(task.modality).augment(batch[0], g)
        return inp, batch[1]

    def forward(self, model: Any, task: TaskConfig, batch: tuple[Any, Any]) -> Any:
        return model(task.name, batch[0])

    def loss(self, out: Any, targets: Any) -> tuple[Tensor, dict[str, float]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def metric(self, task: TaskConfig) -> Metric:  # pragma: no cover - abstract
        raise NotImplementedError

    def chance(self, task: TaskConfig, targets: list[Any]) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def predictions(self, out: Any, task: TaskConfig) -> list[Any]:  # pragma: no cover - abstract
        raise NotImplementedError


TASK_KINDS: Registry[type[TaskKind]] = Registry("task kind")


def task_kind(name: str) -> TaskKind:
    """The (stateless) implementation of a task kind."""
    return TASK_KINDS.get(name)()
