"""The vectorizer: trunk tokens -> one vector per sample.

OmniVec names a "vectorizer" between the trunk and the heads without defining it; we offer (docs/design.md):
``mean`` (masked mean over the data tokens), ``max`` (masked max over the data tokens), ``attn`` (one learned
query attending over the data tokens), ``cls`` (a learned token prepended to every sequence), and ``auto`` (the
default): each modality's encoder names its pooling (``Encoder.default_pool``): max for images, video, audio
and point sets, as CNNs and PointNet pool their feature maps; mean for text, as fastText and sentence encoders
do. The measured effect of each is in docs/design.md.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

VECTORIZERS = ("auto", "cls", "mean", "max", "attn")


def masked_mean(x: Tensor, pad_mask: Tensor | None) -> Tensor:
    """(B, N, D) -> (B, D), averaging only tokens whose ``pad_mask`` is False."""
    if pad_mask is None:
        return x.mean(dim=1)
    w = (~pad_mask).to(x.dtype)[..., None]  # (B, N, 1)
    return (x * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)


def masked_max(x: Tensor, pad_mask: Tensor | None) -> Tensor:
    """(B, N, D) -> (B, D), the largest value over tokens whose ``pad_mask`` is False."""
    if pad_mask is None:
        return x.amax(dim=1)
    return x.masked_fill(pad_mask[..., None], float("-inf")).amax(dim=1)


class Vectorizer(nn.Module):
    def __init__(self, mode: str, embed_dim: int, per_modality: dict[str, str] | None = None) -> None:
        """``per_modality`` gives each modality's pooling when ``mode`` is ``auto``."""
        super().__init__()
        if mode not in VECTORIZERS:
            raise ValueError(f"unknown vectorizer {mode!r}; expected one of {VECTORIZERS}")
        self.mode = mode
        self.per_modality = dict(per_modality or {})
        if mode == "attn":
            self.query = nn.Parameter(torch.zeros(embed_dim))
            self.key = nn.Linear(embed_dim, embed_dim)
            nn.init.normal_(self.query, std=0.02)

    def mode_for(self, modality: str) -> str:
        return self.per_modality.get(modality, "mean") if self.mode == "auto" else self.mode

    def forward(self, x: Tensor, pad_mask: Tensor | None, num_prefix: int, modality: str = "") -> Tensor:
        """x: (B, N, D) trunk output whose first ``num_prefix`` tokens are cls/meta tokens."""
        mode = self.mode_for(modality)
        if mode == "cls":
            return x[:, 0]
        data = x[:, num_prefix:]
        mask = pad_mask[:, num_prefix:] if pad_mask is not None else None
        if mode == "mean":
            return masked_mean(data, mask)
        if mode == "max":
            return masked_max(data, mask)
        scores = self.key(data) @ self.query / math.sqrt(data.shape[-1])  # (B, N)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        return (scores.softmax(dim=-1)[..., None] * data).sum(dim=1)
