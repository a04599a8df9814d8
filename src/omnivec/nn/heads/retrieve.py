"""Retrieval head: a projection to an L2-normalised embedding for cross-modal search, with CLIP's learned
temperature."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.config import ModelConfig, TaskConfig
from omnivec.nn.heads.base import HEADS, Features


class RetrieveOutput(NamedTuple):
    embedding: Tensor  # (B, E), unit norm
    logit_scale: Tensor  # scalar


class RetrieveHead(nn.Module):
    def __init__(self, embed_dim: int, proj_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(embed_dim, proj_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(self, feats: Features, pooled: Tensor) -> RetrieveOutput:
        return RetrieveOutput(F.normalize(self.proj(pooled), dim=-1), self.logit_scale.clamp(max=math.log(100)).exp())


@HEADS.register("retrieval")
def build_retrieve(task: TaskConfig, model: ModelConfig, encoder: Any) -> nn.Module:
    return RetrieveHead(model.embed_dim, min(model.embed_dim, 256))
