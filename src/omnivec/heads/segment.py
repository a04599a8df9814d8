"""Dense segmentation head: per-token logits for every pixel of the token's patch, written back to a
per-pixel map with ``unpatchify`` (the SETR-naive / MAE-decoder style of dense prediction)."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor, nn

from omnivec.config import ModelConfig, TaskConfig
from omnivec.heads.base import HEADS, Features
from omnivec.layers.patch import unpatchify


class SegmentOutput(NamedTuple):
    logits: Tensor  # (B, num_classes, H, W)


class SegmentHead(nn.Module):
    def __init__(self, embed_dim: int, num_classes: int, patch: tuple[int, ...]) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.patch = patch
        out = num_classes
        for p in patch:
            out *= p
        self.mlp = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.GELU(), nn.Linear(embed_dim, out))

    def forward(self, feats: Features, pooled: Tensor) -> SegmentOutput:
        tokens = self.mlp(feats.data_tokens)  # (B, N, prod(patch) * K)
        return SegmentOutput(unpatchify(tokens, self.patch, feats.grid, self.num_classes))


@HEADS.register("segmentation")
def build_segment(task: TaskConfig, model: ModelConfig, encoder: Any) -> nn.Module:
    patch = getattr(encoder, "patch", None)
    if patch is None:
        raise ValueError(f"task {task.name!r}: segmentation needs a patch-grid encoder, not {task.modality}")
    return SegmentHead(model.embed_dim, task.num_classes, patch)
