"""Classification: cross-entropy; accuracy and top-5 accuracy; chance = the majority class's share."""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

import torch.nn.functional as F
from torch import Tensor

from omnivec.config import TaskConfig
from omnivec.nn.heads.classify import ClassifyOutput
from omnivec.tasks.base import TASK_KINDS, TaskKind


class Smoothed(NamedTuple):
    """A training forward's logits and the label smoothing its loss takes (``model.label_smoothing``)."""

    logits: Tensor
    label_smoothing: float


class AccuracyMetric:
    def __init__(self, num_classes: int) -> None:
        self.k = min(5, num_classes)
        self.correct = self.correct_k = self.total = 0

    def update(self, out: ClassifyOutput, targets: Tensor) -> None:
        topk = out.logits.topk(self.k, dim=-1).indices  # (B, k)
        self.correct += int((topk[:, 0] == targets).sum())
        self.correct_k += int((topk == targets[:, None]).any(-1).sum())
        self.total += int(targets.numel())

    def compute(self) -> dict[str, float]:
        n = max(self.total, 1)
        return {"accuracy": self.correct / n, f"top{self.k}": self.correct_k / n, "count": float(self.total)}


@TASK_KINDS.register("classification")
class Classification(TaskKind):
    primary_metric = "accuracy"

    def forward(self, model: Any, task: TaskConfig, batch: tuple[Any, Any]) -> Smoothed:
        return Smoothed(model(task.name, batch[0]).logits, model.cfg.label_smoothing)

    def loss(self, out: Smoothed, targets: Tensor) -> tuple[Tensor, dict[str, float]]:
        loss = F.cross_entropy(out.logits, targets, label_smoothing=out.label_smoothing)
        acc = (out.logits.argmax(-1) == targets).float().mean()
        return loss, {"loss": loss.item(), "accuracy": acc.item()}

    def metric(self, task: TaskConfig) -> AccuracyMetric:
        return AccuracyMetric(task.num_classes)

    def chance(self, task: TaskConfig, targets: list[Any]) -> float:
        counts = Counter(int(t) for t in targets)
        return max(counts.values()) / max(len(targets), 1) if counts else 0.0

    def predictions(self, out: ClassifyOutput, task: TaskConfig) -> list[Any]:
        idx = out.logits.argmax(-1).tolist()
        return [task.class_names[i] if task.class_names else i for i in idx]


__all__ = ["AccuracyMetric", "Classification", "Smoothed"]
