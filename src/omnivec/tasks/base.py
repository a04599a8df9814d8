"""How a batch becomes a loss, a metric and predictions, per task kind. Models own predictions' tensors;
tasks own losses and metrics. :class:`Kind` is what training asks of a kind of either family (the OmniVec heads'
:class:`TaskKind`, the seq2seq kinds of :mod:`omnivec.tasks.seq2seq`), so one supervised objective
(:mod:`omnivec.training.objective`) trains both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

from omnivec.config import TaskConfig
from omnivec.registry import Registry


class Metric(Protocol):
    def update(self, out: Any, targets: Any) -> None: ...

    def compute(self) -> dict[str, float]: ...


class Kind:
    """What the supervised objective asks of a task kind of any family: a collated batch -> the model's output
    (:meth:`forward`) -> the loss and its logged values (:meth:`loss`, against :meth:`targets`)."""

    default_loss_weight: float = 1.0
    """The weight a task of this kind gets in a shared step unless its config says otherwise."""

    def forward(self, model: Any, task: Any, batch: Any) -> Any:  # pragma: no cover - abstract
        """The model's training output for ``batch`` of ``task`` (the task's config or spec: its name, modality)."""
        raise NotImplementedError

    def targets(self, batch: Any) -> Any:
        """The part of a collated batch the loss is taken against: ``(inputs, targets)`` batches' second."""
        return batch[1]

    def loss(self, out: Any, targets: Any) -> tuple[Tensor, dict[str, float]]:  # pragma: no cover - abstract
        """The training loss and what to log of it (keys become ``{task}/{key}``)."""
        raise NotImplementedError


class TaskKind(Kind):
    """Subclasses implement one kind of the OmniVec heads (classification, segmentation, retrieval)."""

    primary_metric: str = "accuracy"
    paired: bool = False
    """A sample is a pair of inputs of two modalities (``modality``, ``pair_modality``) trained to meet in one
    embedding space: such a task has no classes, gives masked pretraining no single-modality stream, and its
    head is a space to embed and search in."""

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
        """The task's head output on the batch's inputs."""
        return model(task.name, batch[0])

    def metric(self, task: TaskConfig) -> Metric:  # pragma: no cover - abstract
        raise NotImplementedError

    def chance(self, task: TaskConfig, targets: list[Any]) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def predictions(self, out: Any, task: TaskConfig) -> list[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def predictions_at(self, out: Any, task: TaskConfig, sizes: Sequence[tuple[int, ...] | None]) -> list[Any]:
        """:meth:`predictions` with dense ones at each input's own spatial size (``sizes[i]``, None: the model's);
        a kind whose predictions have no spatial extent ignores ``sizes``."""
        return self.predictions(out, task)


TASK_KINDS: Registry[type[TaskKind]] = Registry("task kind")


def task_kind(name: str) -> TaskKind:
    """The (stateless) implementation of a task kind."""
    return TASK_KINDS.get(name)()
