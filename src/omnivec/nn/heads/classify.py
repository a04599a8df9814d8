"""Classification head: a linear layer on the vectorizer's pooled vector."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor, nn

from omnivec.config import ModelConfig, TaskConfig
from omnivec.nn.heads.base import HEADS, Features


class ClassifyOutput(NamedTuple):
    logits: Tensor  # (B, num_classes)


class ClassifyHead(nn.Module):
    def __init__(self, embed_dim: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(embed_dim, num_classes)
        nn.init.zeros_(self.fc.weight)  # start at uniform predictions: the first loss is log(num_classes)
        nn.init.zeros_(self.fc.bias)

    def forward(self, feats: Features, pooled: Tensor) -> ClassifyOutput:
        return ClassifyOutput(self.fc(pooled))


@HEADS.register("classification")
def build_classify(task: TaskConfig, model: ModelConfig, encoder: Any) -> nn.Module:
    if task.num_classes < 2:
        raise ValueError(f"task {task.name!r}: classification needs num_classes >= 2, got {task.num_classes}")
    return ClassifyHead(model.embed_dim, task.num_classes)
