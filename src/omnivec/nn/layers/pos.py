"""Fixed sine-cosine positions (MAE's), computed for whatever grid the input has, so an encoder accepts any
size divisible by its patch without interpolating a learned table.

Channel order: each grid axis gets an equal share of the width, in axis order, so for a 2-D (H, W) grid the
first half encodes the row and the second the column. MAE's ``get_2d_sincos_pos_embed`` has the two halves the
other way round (its meshgrid puts w first); an importer of MAE weights swaps them (tests/nn/test_parity_pos.py)."""

from __future__ import annotations

import torch
from torch import Tensor


def sincos_1d(dim: int, pos: Tensor) -> Tensor:
    """(...,) float positions -> (..., dim) embeddings; dim must be even."""
    if dim % 2:
        raise ValueError(f"sincos width must be even, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64, device=pos.device) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    out = pos.to(torch.float64)[..., None] * omega
    return torch.cat([out.sin(), out.cos()], dim=-1).float()


def sincos_nd(dim: int, grid: tuple[int, ...], device: torch.device | None = None) -> Tensor:
    """Positions for a row-major grid: (prod(grid), dim). The width is split evenly over the axes (each share
    even); any remainder is zero-padded."""
    k = len(grid)
    share = (dim // k) // 2 * 2
    axes = torch.meshgrid(*[torch.arange(g, device=device) for g in grid], indexing="ij")
    parts = [sincos_1d(share, a.reshape(-1)) for a in axes]
    out = torch.cat(parts, dim=-1)
    if out.shape[-1] < dim:
        out = torch.nn.functional.pad(out, (0, dim - out.shape[-1]))
    return out
