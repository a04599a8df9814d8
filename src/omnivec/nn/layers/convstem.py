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
    # a LayerNorm over each filter's fan-in (the same numbers): one fused kernel each way, where the written-out
    # mean/var/divide took ~5 ms of a masked-pretraining step's stem (bench/pretrain_throughput.py)
    return F.layer_norm(weight.flatten(1), (weight[0].numel(),), eps=eps).view_as(weight)


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

    def filters(self, c_in: int) -> Tensor:
        """The standardised (scaled) filters for an input of ``c_in`` channels: a gray input repeated to C
        channels equals the gray input through filters summed over channels."""
        w = standardized(self.weight) * self.scale
        return w.sum(1, keepdim=True) if c_in == 1 and w.shape[1] > 1 else w

    def forward(self, x: Tensor) -> Tensor:
        conv = F.conv2d if self.ndim == 2 else F.conv3d
        return F.gelu(self.norm(conv(x, self.filters(x.shape[1]), None, self.stride, self.padding)))

    def at(self, x: Tensor, rows: Tensor) -> Tensor:
        """The block's output at chosen positions only: ``x`` is a channels-last map (B, *S, C) already padded
        by :attr:`padding`, ``rows`` (P, prod(kernel)) the flat indices of each output's kernel window in it
        (:meth:`ConvStem.windows`); returns (P, C_out). A matmul over the gathered windows, so the work is P
        positions' whatever the map's size (a submanifold sparse convolution)."""
        w = self.filters(x.shape[-1])  # (C_out, C, *kernel)
        cols = x.reshape(-1, x.shape[-1]).index_select(0, rows.reshape(-1)).view(rows.shape[0], -1)
        y = cols @ w.movedim(1, -1).reshape(w.shape[0], -1).t()  # windows ordered (kernel..., C) as the filters
        return F.gelu(nn.LayerNorm.forward(self.norm, y) if isinstance(self.norm, nn.LayerNorm) else y)


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

    def forward_kept(self, x: Tensor, ids_keep: Tensor, keep: Tensor | None = None) -> Tensor:
        """(B, K, D) tokens at ``ids_keep`` (B, K) of the row-major token grid: ``forward(x, keep)`` at those
        tokens (to float tolerance) with every stage computed at those tokens' positions only. Hidden tokens'
        positions are zeros that a kept position reads through its kernel's reach (its halo), as in the masked
        dense pass; nothing is computed for them, so at mask ratio 0.75 the stem does a quarter of the work
        (SparK's sparse convolution, done as gathered windows times the filters). ``keep`` (B, *grid): the
        visible tokens when not every slot of ``ids_keep`` is one (a padded sample's spare slots, which come out
        zero as in the dense pass). No skips (pretraining needs none)."""
        B, K = ids_keep.shape
        grid = tuple(s // p for s, p in zip(x.shape[2:], self.patch))
        dev = x.device
        if keep is None:
            keep = torch.zeros(B, math.prod(grid), dtype=torch.bool, device=dev).scatter_(1, ids_keep, True)
            slot: Tensor | None = None
        else:
            slot = keep.reshape(B, -1).gather(1, ids_keep).reshape(-1, 1).to(x.dtype)  # (B*K, 1): a visible slot
        x = x * _upsample_mask(keep.view(B, *grid), self.patch, x.dtype)  # hidden pixels read as zeros
        stages: list[ConvBlock] = list(self.stages)  # type: ignore[arg-type]
        pad = stages[0].padding
        x = F.pad(x, [v for p in reversed(pad) for v in (p, p)]).movedim(1, -1)  # (B, *padded S, C)
        tok = torch.stack(torch.unravel_index(ids_keep.reshape(-1), grid), -1)  # (B*K, ndim)
        batch = torch.arange(B, device=dev).repeat_interleave(K)
        strides = self.strides()
        y = x  # the previous stage's kept cells: stage 0 sets them before any later stage reads them
        for i, stage in enumerate(stages):
            side = tuple(p // s for p, s in zip(self.patch, strides[i]))  # positions per token at the output
            if i > 0:  # the previous stage's kept cells pooled within their tokens, placed on a padded zero map
                prev = tuple(a * b for a, b in zip(side, self.pools[i - 1]))
                y = (y if slot is None else y.view(B * K, -1) * slot).view(B * K, *prev, -1).movedim(-1, 1)
                y = F.max_pool2d(y, self.pools[i - 1]) if self.ndim == 2 else F.max_pool3d(y, self.pools[i - 1])
                size = tuple(g * s for g, s in zip(grid, side))
                x = _place(y.movedim(1, -1), B, batch, tok, size, stage.padding)
            y = stage.at(x, _window_rows(x.shape[1:-1], stage, batch, tok, side))  # (B*K*cells, C_out)
        out = F.linear(y, self.proj.weight.flatten(1), self.proj.bias)  # the 1x1 projection of the one cell a token
        return (out if slot is None else out * slot).view(B, K, -1)


def _place(y: Tensor, B: int, batch: Tensor, tok: Tensor, size: tuple[int, ...], pad: tuple[int, ...]) -> Tensor:
    """Kept tokens' cells (B*K, *side, C) placed on a zero channels-last map (B, *(size + 2 pad), C): the
    map a stage of that padding reads."""
    side, C = tuple(y.shape[1:-1]), y.shape[-1]
    full = tuple(s + 2 * p for s, p in zip(size, pad))
    corner = tok * torch.tensor(side, device=y.device) + torch.tensor(pad, device=y.device)
    rows = (batch * math.prod(full) + _ravel(corner, full))[:, None] + _ravel(_grid_offsets(side, y.device), full)
    out = y.new_zeros(B * math.prod(full), C).index_copy(0, rows.reshape(-1), y.reshape(-1, C))
    return out.view(B, *full, C)


def _window_rows(size: tuple[int, ...], stage: ConvBlock, batch: Tensor, tok: Tensor, side: tuple[int, ...]) -> Tensor:
    """For each kept token's output cells, the flat rows of their kernel windows in a padded map of ``size``:
    (B*K*cells, prod(kernel)). Row indices are linear in the coordinates, so a token's base row plus a fixed
    table of cell-and-tap offsets."""
    dev = tok.device
    stride = torch.tensor(stage.stride, device=dev)
    base = batch * math.prod(size) + _ravel(tok * torch.tensor(side, device=dev) * stride, size)  # (B*K,)
    cells = _ravel(_grid_offsets(side, dev) * stride, size)  # (cells,)
    taps = _ravel(_grid_offsets(stage.kernel, dev), size)  # (taps,)
    rows = base[:, None, None] + cells[None, :, None] + taps[None, None, :]
    return rows.reshape(-1, taps.numel())


def _grid_offsets(side: tuple[int, ...], device: torch.device) -> Tensor:
    """(prod(side), ndim) row-major coordinates of every cell of a block of ``side``."""
    axes = torch.meshgrid(*(torch.arange(s, device=device) for s in side), indexing="ij")
    return torch.stack(axes, -1).reshape(-1, len(side))


def _ravel(coords: Tensor, size: tuple[int, ...]) -> Tensor:
    """Row-major flat index of (..., ndim) coordinates in a map of ``size``."""
    flat = coords[..., 0]
    for axis in range(1, len(size)):
        flat = flat * size[axis] + coords[..., axis]
    return flat


def _upsample_mask(keep: Tensor, factor: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """(B, *grid) bool -> (B, 1, *(grid * factor)) of 0/1 in ``dtype``."""
    m = keep
    for axis, f in enumerate(factor):
        if f > 1:
            m = m.repeat_interleave(f, dim=axis + 1)
    return m[:, None].to(dtype)


__all__ = ["NF_GAIN", "STEM_NORMS", "ChannelsLastNorm", "ConvBlock", "ConvStem", "standardized"]
