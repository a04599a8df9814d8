"""Patchify / unpatchify for any number of spatial axes (images: 2, video: 3, spectrograms: 2).

Token order is row-major over the patch grid, and each patch's values are ordered (patch axes..., channels), as in
MAE's ``patchify``, so a per-token linear head can write pixels back with :func:`unpatchify`.
"""

from __future__ import annotations

from torch import Tensor


def patchify(x: Tensor, patch: tuple[int, ...]) -> Tensor:
    """(B, C, *S) -> (B, N, prod(patch) * C) with N = prod(S_i / patch_i)."""
    B, C, *S = x.shape
    if len(S) != len(patch):
        raise ValueError(f"input has {len(S)} spatial axes {tuple(S)}, patch has {len(patch)} {patch}")
    for s, p in zip(S, patch):
        if s % p:
            raise ValueError(f"spatial size {tuple(S)} is not divisible by the patch size {patch}")
    grid = [s // p for s, p in zip(S, patch)]
    k = len(S)
    # (B, C, g0, p0, g1, p1, ...) -> (B, g0, g1, ..., p0, p1, ..., C)
    x = x.reshape(B, C, *[v for gp in zip(grid, patch) for v in gp])
    perm = [0, *[2 + 2 * i for i in range(k)], *[3 + 2 * i for i in range(k)], 1]
    x = x.permute(*perm)
    n = 1
    for g in grid:
        n *= g
    return x.reshape(B, n, -1)


def unpatchify(tokens: Tensor, patch: tuple[int, ...], grid: tuple[int, ...], channels: int) -> Tensor:
    """(B, N, prod(patch) * C) -> (B, C, *S), the inverse of :func:`patchify`."""
    B = tokens.shape[0]
    k = len(grid)
    x = tokens.reshape(B, *grid, *patch, channels)
    # (B, g0, g1, ..., p0, p1, ..., C) -> (B, C, g0, p0, g1, p1, ...)
    perm = [0, 2 * k + 1, *[v for i in range(k) for v in (1 + i, 1 + k + i)]]
    x = x.permute(*perm)
    return x.reshape(B, channels, *[g * p for g, p in zip(grid, patch)])
