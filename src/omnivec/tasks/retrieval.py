"""Cross-modal retrieval: paired samples (a in ``modality``, b in ``pair_modality``) through the shared trunk
and one retrieval head; symmetric InfoNCE (CLIP); recall@1/5/10 in both directions over the whole split. Two
items match when their pair ids (the dataset's targets' labels) are equal, so "a spoken 3 finds any image of a 3"
counts as a hit when the dataset gives class labels as pair ids."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from omnivec.config import TaskConfig
from omnivec.nn.heads.retrieve import RetrieveOutput
from omnivec.tasks.base import TASK_KINDS, TaskKind

# A retrieval item is (sample_a, (sample_b, label)); the label decides what counts as a match.


def recall_at_k(sim: Tensor, labels_q: Tensor, labels_g: Tensor, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """sim: (Q, G) similarities; a query is a hit at k when any of its top-k gallery items shares its label."""
    order = sim.argsort(dim=1, descending=True)
    hits = labels_g[order] == labels_q[:, None]  # (Q, G)
    return {f"r@{k}": float(hits[:, :k].any(1).float().mean()) for k in ks if k <= sim.shape[1]}


class RecallMetric:
    def __init__(self) -> None:
        self.a: list[Tensor] = []
        self.b: list[Tensor] = []
        self.labels: list[Tensor] = []

    def update(self, out: tuple[RetrieveOutput, RetrieveOutput], targets: Tensor) -> None:
        self.a.append(out[0].embedding)
        self.b.append(out[1].embedding)
        self.labels.append(targets)

    def compute(self) -> dict[str, float]:
        a, b, y = torch.cat(self.a), torch.cat(self.b), torch.cat(self.labels)
        sim = a @ b.T
        fwd = recall_at_k(sim, y, y)
        bwd = recall_at_k(sim.T, y, y)
        out = {f"{k}_a2b": v for k, v in fwd.items()} | {f"{k}_b2a": v for k, v in bwd.items()}
        out["r@1"] = (fwd["r@1"] + bwd["r@1"]) / 2
        out["count"] = float(len(y))
        return out


@TASK_KINDS.register("retrieval")
class Retrieval(TaskKind):
    primary_metric = "r@1"
    paired = True

    def collate(self, model: Any, task: TaskConfig, items: list[tuple[Any, Any]]) -> tuple[Any, Any]:
        a = model.collate(task.modality, [s for s, _ in items])
        b = model.collate(task.pair_modality, [t[0] for _, t in items])
        labels = torch.as_tensor([int(t[1]) for _, t in items], dtype=torch.long)
        return (a, b), labels

    def augment(self, model: Any, task: TaskConfig, batch: tuple[Any, Any], g: torch.Generator) -> tuple[Any, Any]:
        (a, b), labels = batch
        a, _ = model.encoder(task.modality).augment(a, g)
        b, _ = model.encoder(task.pair_modality).augment(b, g)
        return (a, b), labels

    def forward(self, model: Any, task: TaskConfig, batch: tuple[Any, Any]) -> Any:
        (a, b), _ = batch
        head = model.heads[task.name]
        fa = model.forward_features(task.modality, a)
        fb = model.forward_features(task.pair_modality, b)
        return head(fa, model.pool(fa)), head(fb, model.pool(fb))

    def loss(self, out: tuple[RetrieveOutput, RetrieveOutput], targets: Tensor) -> tuple[Tensor, dict[str, float]]:
        a, b = out
        logits = a.logit_scale * a.embedding @ b.embedding.T  # (B, B)
        # Items with the same label are all positives (supervised-contrastive form of InfoNCE).
        pos = (targets[:, None] == targets[None, :]).float()
        pos = pos / pos.sum(1, keepdim=True)
        loss = 0.5 * (F.cross_entropy(logits, pos) + F.cross_entropy(logits.T, pos.T))
        return loss, {"loss": loss.item()}

    def metric(self, task: TaskConfig) -> RecallMetric:
        return RecallMetric()

    def chance(self, task: TaskConfig, targets: list[Any]) -> float:
        labels = [int(t[1]) for t in targets]
        return max(labels.count(x) for x in set(labels)) / len(labels) if labels else 0.0

    def predictions(self, out: RetrieveOutput, task: TaskConfig) -> list[Any]:
        return list(out.embedding.unbind(0))
