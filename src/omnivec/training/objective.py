"""Engine objectives: one step's batches (a dict, one per stream) -> the step's loss and logs.

:class:`Objective` sums its streams' losses, each weighted, and logs ``{stream}/{key}``; a subclass says what
one stream's batch costs. :class:`SupervisedObjective` trains either model family on labelled tasks: each
task's batch goes through its kind (:class:`omnivec.tasks.base.Kind`: an OmniVec head's, a seq2seq kind's);
masked pretraining (``omnivec.api.pretrain.PretrainObjective``) is another objective beside it, with the same
``forward``. Wrapping an objective (not the model) in DDP gives one forward and one backward per step however
many tasks the step mixes."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class Objective(nn.Module):
    """``forward(batches) -> (loss, logs)`` for :class:`omnivec.training.engine.Engine`, over ``self.model``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def stream_loss(self, name: str, batch: Any) -> tuple[Tensor, dict[str, float], float]:  # pragma: no cover
        """Stream ``name``'s batch -> its loss, what to log of it, and its weight in the step."""
        raise NotImplementedError

    def forward(self, batches: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        total = torch.zeros((), device=next(self.model.parameters()).device)
        logs: dict[str, float] = {}
        for name, batch in batches.items():
            loss, report, weight = self.stream_loss(name, batch)
            total = total + weight * loss
            logs.update({f"{name}/{k}": v for k, v in report.items()})
        return total, logs


class SupervisedObjective(Objective):
    """Each task's batch -> its kind's forward -> its kind's loss, times the task's ``loss_weight``. The model
    (an ``OmniModel``, a ``UnivalModel``) names each task's config and kind (``model.supervised_task(name)``)."""

    def stream_loss(self, name: str, batch: Any) -> tuple[Tensor, dict[str, float], float]:
        task, kind = self.model.supervised_task(name)  # type: ignore[operator]
        loss, report = kind.loss(kind.forward(self.model, task, batch), kind.targets(batch))
        return loss, report, task.loss_weight
