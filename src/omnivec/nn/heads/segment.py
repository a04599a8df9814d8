"""Dense segmentation heads.

- Over a convolutional encoder (``Features.skips`` present): a light U-Net/FPN decoder (TransUNet's cascaded
  upsampler, arXiv 2102.04306): the trunk's tokens become a (B, D, *grid) map, and level by level, coarse to
  fine, the map is reduced to that stage's width (1x1), upsampled, added to the encoder's stage map and refined
  by a 3x3 conv; a 1x1 conv gives per-pixel logits. The trunk carries global context, the skips local detail.
- Over a patch encoder: per-token logits for every pixel of the token's patch, written back with ``unpatchify``
  (SETR-naive / MAE-decoder style).

Either way the logits are cropped back to the input's size when the encoder padded it to whole tokens.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.config import ModelConfig, TaskConfig
from omnivec.nn.heads.base import HEADS, Features
from omnivec.nn.layers.convstem import ConvBlock
from omnivec.nn.layers.patch import unpatchify


class SegmentOutput(NamedTuple):
    logits: Tensor  # (B, num_classes, H, W)


def crop_to(x: Tensor, size: tuple[int, ...]) -> Tensor:
    """Undo the encoder's centred padding: (B, C, *S_padded) -> (B, C, *size)."""
    if not size or tuple(x.shape[2:]) == tuple(size):
        return x
    for axis, s in enumerate(size):
        start = (x.shape[2 + axis] - s) // 2
        x = x.narrow(2 + axis, start, s)
    return x


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
        return SegmentOutput(crop_to(unpatchify(tokens, self.patch, feats.grid, self.num_classes), feats.size))


class UNetSegmentHead(nn.Module):
    def __init__(
        self, embed_dim: int, num_classes: int, widths: list[int], pools: list[tuple[int, ...]], entry: tuple[int, ...]
    ) -> None:
        super().__init__()
        ndim = len(pools[0]) if pools else 2
        conv = {2: nn.Conv2d, 3: nn.Conv3d}[ndim]
        self.pools = pools
        self.entry = entry
        self.reduce = nn.ModuleList()
        self.refine = nn.ModuleList()
        # Decode down to the finest stage below full resolution; the full-resolution stage costs as much as the
        # rest of the decoder and did not help (docs/design.md), so the logits are upsampled bilinearly from there.
        levels = len(widths) - 1 if not any(e > 1 for e in entry) and len(widths) > 1 else len(widths)
        widths = widths[len(widths) - levels :]
        self.final_up = [1] * ndim
        for pool in pools[: len(pools) - (levels - 1)]:
            self.final_up = [a * b for a, b in zip(self.final_up, pool)]
        c = embed_dim
        for w in reversed(widths):  # coarse (the token grid) to fine (full resolution)
            self.reduce.append(conv(c, w, 1))
            self.refine.append(ConvBlock(w, w, ndim))
            c = w
        self.out = conv(c, num_classes, 1)

    def forward(self, feats: Features, pooled: Tensor) -> SegmentOutput:
        B, _, D = feats.x.shape
        y = feats.data_tokens.transpose(1, 2).reshape(B, D, *feats.grid)  # (B, D, *grid)
        skips = list(reversed(feats.skips))
        for i, (reduce, refine, skip) in enumerate(zip(self.reduce, self.refine, skips)):
            y = reduce(y)
            if i > 0:  # skips[0] is at the token grid; every later one is one pooling step finer
                y = F.interpolate(y, scale_factor=self.pools[len(self.pools) - i], mode="nearest")
            y = refine(y + skip)
        y = self.out(y)
        up = tuple(a * b for a, b in zip(self.entry or (1,) * len(self.final_up), self.final_up))
        if any(e > 1 for e in up):  # the finest map decoded is coarser than the input: upsample the logits
            y = F.interpolate(y, scale_factor=up, mode="bilinear" if y.ndim == 4 else "trilinear")
        return SegmentOutput(crop_to(y, feats.size))


@HEADS.register("segmentation")
def build_segment(task: TaskConfig, model: ModelConfig, encoder: Any) -> nn.Module:
    stem = getattr(encoder, "stem", None)
    if stem is not None and hasattr(stem, "widths"):
        return UNetSegmentHead(model.embed_dim, task.num_classes, stem.widths, stem.pools, stem.entry)
    patch = getattr(encoder, "patch", None)
    if patch is None:
        raise ValueError(f"task {task.name!r}: segmentation needs a patch-grid encoder, not {task.modality}")
    return SegmentHead(model.embed_dim, task.num_classes, patch)
