"""Random token masking for masked pretraining (MAE, arXiv 2111.06377 §3), as pure functions.

``random_masking`` keeps ``round((1 - ratio) * n)`` tokens of every sample, where ``n`` is the number of
*valid*
(non-padding) tokens of that sample, at least one. Padding is never kept as a visible token and never
becomes a
reconstruction target:

- unpadded batches (images, video, points): every sample keeps exactly ``K = round((1 - ratio) * N)`` tokens;
- padded batches (audio spectrograms, text): sample ``i`` keeps ``K_i = round((1 - ratio) * n_i)`` valid
tokens; the
  kept tensor has ``max_i K_i`` slots and the unused slots of shorter samples are flagged in ``kept_pad``
  so the
  trunk's padding mask hides them (they are filled with masked or padding tokens, which the trunk never
  attends to).

Kept tokens stay in their original order (the kept indices are sorted), so with ``ratio = 0`` the kept
tensor is the
input itself and the masked forward equals the unmasked one.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class Masked(NamedTuple):
    """kept: (B, K, D) visible tokens; kept_pad: (B, K) True where a kept slot is padding, or None;
    mask: (B, N) True where a token is hidden from the trunk (masked or padding); target: (B, N) True where a
    token is a reconstruction target (masked and not padding); ids_keep: (B, K) indices of the kept tokens;
    ids_restore: (B, N) the permutation that puts ``cat([kept, hidden])`` back into token order."""

    kept: Tensor
    kept_pad: Tensor | None
    mask: Tensor
    target: Tensor
    ids_keep: Tensor
    ids_restore: Tensor


def num_kept(n: int | Tensor, ratio: float) -> Tensor:
    """``round((1 - ratio) * n)``, at least 1 where ``n >= 1`` (round half to even, like Python's
    ``round``)."""
    n_t = torch.as_tensor(n)
    k = torch.round((1.0 - ratio) * n_t.to(torch.float64)).to(torch.long)
    return torch.minimum(k.clamp(min=1), n_t.to(torch.long))


def sample_mask(
    batch: int,
    n: int,
    ratio: float,
    pad_mask: Tensor | None = None,
    device: torch.device | None = None,
    generator: torch.Generator | None = None,
) -> Masked:
    """Draw which of ``n`` tokens per sample stay visible, before any token exists (so an encoder can embed only
    the kept ones); ``kept`` is left empty (B, K, 0). :func:`random_masking` = this + the gather."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask ratio must lie in [0, 1), got {ratio}")
    B, N = batch, n
    valid = torch.ones(B, N, dtype=torch.bool, device=device) if pad_mask is None else ~pad_mask
    n_valid = valid.sum(1)  # (B,)
    k_i = num_kept(n_valid, ratio).to(device)  # (B,)
    K = int(k_i.max())
    noise = torch.rand(B, N, device=device, generator=generator)
    noise = noise.masked_fill(~valid, 2.0)  # padding sorts last: never kept while valid tokens remain
    order = noise.argsort(dim=1)  # (B, N) token indices, kept first
    rank = order.argsort(dim=1)  # (B, N) position of each token in ``order``
    keep = rank < k_i[:, None]  # (B, N) kept valid tokens
    ids_keep = order[:, :K].sort(dim=1).values  # (B, K) original order
    kept_pad = ~keep.gather(1, ids_keep)
    # Shorter samples put some hidden tokens in their kept slots; ids_restore must still be a permutation, so
    # build it from the kept slots' ids plus the ids not among them.
    in_slots = torch.zeros(B, N, dtype=torch.bool, device=device).scatter_(1, ids_keep, True)
    rest = (~in_slots).to(torch.int8).argsort(dim=1, descending=True, stable=True)[:, : N - K]
    ids_restore = torch.cat([ids_keep, rest], dim=1).argsort(dim=1)
    mask = ~keep
    empty = torch.empty(B, K, 0, device=device)
    return Masked(empty, kept_pad if bool(kept_pad.any()) else None, mask, mask & valid, ids_keep, ids_restore)


def random_masking(
    x: Tensor, ratio: float, pad_mask: Tensor | None = None, generator: torch.Generator | None = None
) -> Masked:
    """Mask ``ratio`` of each sample's valid tokens of ``x`` (B, N, D) uniformly at random."""
    B, N, D = x.shape
    m = sample_mask(B, N, ratio, pad_mask, x.device, generator)
    return m._replace(kept=x.gather(1, m.ids_keep[..., None].expand(-1, -1, D)))


def unshuffle(kept: Tensor, fill: Tensor, ids_restore: Tensor) -> Tensor:
    """Put (B, K, E) kept tokens back into token order with ``fill`` (E,) or (1, 1, E) at every other
    position:
    the MAE decoder's input."""
    B, K, E = kept.shape
    N = ids_restore.shape[1]
    full = torch.cat([kept, fill.reshape(1, 1, E).expand(B, N - K, E).to(kept.dtype)], dim=1)
    return full.gather(1, ids_restore[..., None].expand(-1, -1, E))


__all__ = ["Masked", "num_kept", "random_masking", "sample_mask", "unshuffle"]
