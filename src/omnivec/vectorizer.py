"""The vectorizer: trunk tokens -> one vector per sample.

OmniVec names a "vectorizer" between the trunk and the heads without defining it; we offer three poolings
(docs/design.md): ``cls`` (a learned token prepended to every sequence), ``mean`` (masked mean over the data
tokens), ``max`` (masked max over the data tokens) and ``attn`` (one learned query attending over the data tokens).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

VECTORIZERS = ("cls", "mean", "max", "attn")


def masked_mean(x: Tensor, pad_mask: Tensor | None) -> Tensor:
    """(B, N, D) -> (B, D), averaging only tokens whose ``pad_mask`` is False."""
    if pad_mask is None:
        return x.mean(dim=1)
    w = (~pad_mask).to(x.dtype)[..., None]  # (B, N, 1)
    return (x * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)


class Vectorizer(nn.Module):
    def __init__(self, mode: str, embed_dim: int) -> None:
        super().__init__()
        if mode not in VECTORIZERS:
            raise ValueError(f"unknown vectorizer {mode!r}; expected one of {VECTORIZERS}")
        self.mode = mode
        if mode == "attn":
            self.query = nn.Parameter(torch.zeros(embed_dim))
            self.key = nn.Linear(embed_dim, embed_dim)
            nn.init.normal_(self.query, std=0.02)

    def forward(self, x: Tensor, pad_mask: Tensor | None, num_prefix: int) -> Tensor:
        """x: (B, N, D) trunk output whose first ``num_prefix`` tokens are cls/meta tokens."""
        if self.mode == "cls":
            return x[:, 0]
        data = x[:, num_prefix:]
        mask = pad_mask[:, num_prefix:] if pad_mask is not None else None
        if self.mode == "mean":
            return masked_mean(data, mask)
        if self.mode == "max":
            return data.masked_fill(mask[..., None], float("-inf")).amax(dim=1) if mask is not None else data.amax(1)
        scores = self.key(data) @ self.query / math.sqrt(data.shape[-1])  # (B, N)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        return (scores.softmax(dim=-1)[..., None] * data).sum(dim=1)
