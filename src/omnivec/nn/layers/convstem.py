"""A convolutional tokenizer: early convolutions in front of the shared trunk (Xiao et al. 2021, "Early
convolutions help transformers see better"; the hybrid CNN encoders of TransUNet and UnIVAL).

Stages of ``weight-standardised conv 3x3 -> LayerNorm over channels -> GELU``; between stages a 2x max-pool
halves every axis that still has stride left, until the feature map has one position per token (``patch`` pixels
per token along each axis); optionally the first stage is a non-overlapping ``entry`` conv (kernel = stride),
which halves the stem's cost. Weight Standardization (Qiao et al. 2019) with the per-position norm trains as fast
as BatchNorm on full-frame digits (docs/learning.md) without coupling samples, tasks or masked positions; on a
mostly empty canvas it does not (one digit on 64 x 64: 0.63 against 0.90 after 500 steps, docs/unival.md), and
``norm="none"`` replaces it by *scaled* weight standardisation (NFNets) with no norm, so a faint response stays
faint instead of being raised to full size (the UnIVAL preset's stems). A 1x1 convolution projects the last
stage to the trunk width. Each stage's output is kept as a *skip*, so a dense head can decode at full resolution
(TransUNet/U-Net style) while the trunk sees few tokens.

**Masked inputs stay leak-free** (SparK arXiv 2301.03580, ConvMAE arXiv 2205.03892): given which tokens are
visible, every stage's input is multiplied by the visibility mask at that stage's resolution, so a visible token
never reads a pixel of a hidden one, however far the kernels reach. Because a pooling window never straddles two
tokens (token sides are powers of two times the pooling factor), the computation at visible positions is exactly
a sparse convolution over the visible pixels. The same mechanism zeroes padding (variable-length audio), which
makes a padded batch give the tokens each sample gives alone. The norm is per position, so nothing else mixes
positions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def standardized(weight: Tensor, eps: float = 1e-5) -> Tensor:
    """Weight Standardization (arXiv 1903.10520): every output filter with zero mean and unit variance."""
    dims = tuple(range(1, weight.ndim))
    mean = weight.mean(dim=dims, keepdim=True)
    var = weight.var(dim=dims, keepdim=True, unbiased=False)
    return (weight - mean) / (var + eps).sqrt()


class ChannelsLastNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of a (B, C, *S) map, at each position independently."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


STEM_NORMS = ("layer", "none")
"""``layer``: weight-standardised conv -> LayerNorm over channels at each position -> GELU. ``none``: *scaled*
weight standardisation (each filter standardised, times ``NF_GAIN / sqrt(fan_in)``, NFNets, Brock et al. 2021)
-> GELU, no norm: activations keep their magnitude, so a position with a faint response stays faint (the
per-position LayerNorm raises it to full size; docs/unival.md, "Encoders")."""
NF_GAIN = 1.7
"""The gain that keeps a GELU stage's output at unit variance for unit-variance inputs (NFNets' gamma)."""


class ConvBlock(nn.Module):
    """Weight-standardised conv -> LayerNorm over channels -> GELU (``norm="layer"``), or scaled weight
    standardisation -> GELU (``norm="none"``, :data:`STEM_NORMS`), for 2-D or 3-D maps. ``kernel`` 3 pads to
    keep the size; a ``stride`` equal to the kernel makes it a non-overlapping (per-patch) conv."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        ndim: int,
        kernel: tuple[int, ...] = (),
        stride: tuple[int, ...] = (),
        norm: str = "layer",
    ):
        super().__init__()
        if norm not in STEM_NORMS:
            raise ValueError(f"unknown stem norm {norm!r}; expected one of {', '.join(STEM_NORMS)}")
        self.ndim = ndim
        self.kernel = kernel or (3,) * ndim
        self.stride = stride or (1,) * ndim
        self.padding = tuple(k // 2 if s == 1 else 0 for k, s in zip(self.kernel, self.stride))
        self.weight = nn.Parameter(torch.empty(c_out, c_in, *self.kernel))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # torch's conv default
        self.norm: nn.Module = ChannelsLastNorm(c_out) if norm == "layer" else nn.Identity()
        self.scale = 1.0 if norm == "layer" else NF_GAIN / math.sqrt(math.prod(self.weight.shape[1:]))

    def forward(self, x: Tensor) -> Tensor:
        w = standardized(self.weight) * self.scale
        if x.shape[1] == 1 and w.shape[1] > 1:
            # a gray input repeated to C channels == the gray input through filters summed over channels
            w = w.sum(1, keepdim=True)
        conv = F.conv2d if self.ndim == 2 else F.conv3d
        return F.gelu(self.norm(conv(x, w, None, self.stride, self.padding)))


class ConvStem(nn.Module):
    def __init__(
        self,
        in_chans: int,
        embed_dim: int,
        patch: tuple[int, ...],
        width: int = 32,
        entry: tuple[int, ...] = (),
        norm: str = "layer",
    ) -> None:
        super().__init__()
        entry = entry or tuple(1 for _ in patch)
        for p, e in zip(patch, entry):
            if p < 1 or p & (p - 1) or e < 1 or e & (e - 1) or p % e:
                raise ValueError(f"cnn stem needs power-of-two token sides divisible by the entry: {patch} {entry}")
        self.patch = patch
        self.entry = entry
        self.ndim = len(patch)
        rest = [p // e for p, e in zip(patch, entry)]
        num_pools = max(int(math.log2(p)) for p in rest)
        # pools[i]: the factor stage i+1 pools each axis by (2 while that axis has stride left, else 1)
        self.pools = [tuple(2 if p >= 2 ** (i + 1) else 1 for p in rest) for i in range(num_pools)]
        self.widths = [min(width * 2**i, embed_dim) for i in range(num_pools + 1)]
        chans = [in_chans, *self.widths]
        has_entry = any(e > 1 for e in entry)
        # The entry conv is non-overlapping along the axes it strides and a 3-wide conv along the others: video's
        # (1, 2, 2) entry still mixes neighbouring frames at full frame rate, which motion needs (a (1, 2, 2)
        # kernel left the generated `motion` task at chance: docs/learning.md).
        entry_kernel = tuple(e if e > 1 else 3 for e in entry)
        self.stages = nn.ModuleList(
            ConvBlock(
                chans[i], chans[i + 1], self.ndim, *((entry_kernel, entry) if i == 0 and has_entry else ((), ())), norm
            )
            for i in range(num_pools + 1)
        )
        self.proj = (nn.Conv2d if self.ndim == 2 else nn.Conv3d)(chans[-1], embed_dim, 1)

    def strides(self) -> list[tuple[int, ...]]:
        """Pixels per position of each stage's map, per axis (the last one is ``patch``)."""
        out, s = [tuple(self.entry)], list(self.entry)
        for pool in self.pools:
            s = [a * b for a, b in zip(s, pool)]
            out.append(tuple(s))
        return out

    def forward(self, x: Tensor, keep: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        """x: (B, C, *S) with every S_i divisible by patch_i (C may be 1 for a gray input); keep: (B, *grid) True
        where a token is visible (None: all). Returns the (B, D, *grid) token map and every stage's map, finest
        first."""
        fmt = torch.channels_last if self.ndim == 2 else torch.channels_last_3d
        x = x.contiguous(memory_format=fmt)  # ~1.25x faster convolutions on CPU (oneDNN), same numbers
        skips: list[Tensor] = []
        inputs_at = [(1,) * self.ndim, *self.strides()[1:]]  # the resolution each stage reads (after its pool)
        for i, (stage, at) in enumerate(zip(self.stages, inputs_at)):
            if i > 0:
                x = F.max_pool2d(x, self.pools[i - 1]) if self.ndim == 2 else F.max_pool3d(x, self.pools[i - 1])
            if keep is not None:  # hidden tokens' positions read as zeros at every stage: nothing leaks
                x = x * _upsample_mask(keep, tuple(p // a for p, a in zip(self.patch, at)), x.dtype)
            x = stage(x)
            skips.append(x)
        out = self.proj(x)
        if keep is not None:
            out = out * keep[:, None].to(out.dtype)
        return out, skips


def _upsample_mask(keep: Tensor, factor: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """(B, *grid) bool -> (B, 1, *(grid * factor)) of 0/1 in ``dtype``."""
    m = keep
    for axis, f in enumerate(factor):
        if f > 1:
            m = m.repeat_interleave(f, dim=axis + 1)
    return m[:, None].to(dtype)


__all__ = ["NF_GAIN", "STEM_NORMS", "ChannelsLastNorm", "ConvBlock", "ConvStem", "standardized"]
