"""The supervised objective: each task's batch -> its head -> its task kind's loss, weighted and summed.
Wrapping this module (not the model) in DDP gives one forward and one backward per step however many tasks
the step mixes."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from omnivec.nn.model import OmniModel
from omnivec.tasks import task_kind


class SupervisedObjective(nn.Module):
    def __init__(self, model: OmniModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batches: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        total = torch.zeros((), device=next(self.model.parameters()).device)
        logs: dict[str, float] = {}
        for name, batch in batches.items():
            task = self.model.task(name)
            kind = task_kind(task.kind)
            loss, report = kind.loss(kind.forward(self.model, task, batch), batch[1])
            total = total + task.loss_weight * loss
            logs.update({f"{name}/{k}": v for k, v in report.items()})
        return total, logs
