"""Patch embedding stems.

``linear``: one convolution with kernel = stride = patch (ViT/MAE).
``hmlp``: the hierarchical-MLP stem of Touvron et al. 2022 ("Three things everyone should know about Vision
Transformers", §4): stride-2 convolutions with kernel 2 applied *within* each patch, with norm and GELU between
them. Every output token still depends only on its own patch, so masked pretraining stays leak-free, but the
stem is a small nonlinear network instead of one linear map, which learns far faster from few images (measured
in docs/design.md). Works for any number of spatial axes; every patch side must be a power of two, or 1.
"""

from __future__ import annotations

import math

from torch import Tensor, nn


def _conv(ndim: int) -> type[nn.Module]:
    return {2: nn.Conv2d, 3: nn.Conv3d}[ndim]


class ChannelNorm(nn.Module):
    """LayerNorm over the channel axis of a (B, C, *S) map (per position, so patches stay independent)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)


def patch_stem(kind: str, in_chans: int, embed_dim: int, patch: tuple[int, ...]) -> nn.Module:
    conv = _conv(len(patch))
    if kind == "linear":
        stem = conv(in_chans, embed_dim, kernel_size=patch, stride=patch)
        weight, bias = stem.weight, stem.bias
        assert isinstance(weight, Tensor) and isinstance(bias, Tensor)
        nn.init.xavier_uniform_(weight.view(embed_dim, -1))  # MAE: like a linear layer over the patch
        nn.init.zeros_(bias)
        return stem
    if kind not in ("hmlp", "conv"):
        raise ValueError(f"unknown stem {kind!r}; expected linear, hmlp or conv")
    for p in patch:
        if p & (p - 1):
            raise ValueError(f"hmlp stem needs power-of-two patch sides, got {patch}")
    stages = max(int(math.log2(p)) for p in patch)
    widths = [embed_dim // 2 ** (stages - 1 - i) for i in range(stages)]
    layers: list[nn.Module] = []
    c_in = in_chans
    if kind == "conv":
        for i, w in enumerate(widths):
            k = tuple(3 if p >= 2 ** (i + 1) else 1 for p in patch)
            stride = tuple(2 if p >= 2 ** (i + 1) else 1 for p in patch)
            layers += [
                conv(c_in, w, kernel_size=k, stride=stride, padding=tuple(x // 2 for x in k)),
                ChannelNorm(w),
                nn.GELU(),
            ]
            c_in = w
        layers.append(conv(c_in, embed_dim, kernel_size=1))
        return nn.Sequential(*layers)
    for i, w in enumerate(widths):
        # Halve every axis that still has patch size left to cover; axes already at 1 keep kernel 1.
        k = tuple(2 if p >= 2 ** (i + 1) else 1 for p in patch)
        layers.append(conv(c_in, w, kernel_size=k, stride=k))
        if i < stages - 1:
            layers += [ChannelNorm(w), nn.GELU()]
        c_in = w
    return nn.Sequential(*layers)
