"""Band-limited resampling with a windowed-sinc filter, in plain torch (no torchaudio).

This is the classic polyphase form of bandlimited interpolation (J. O. Smith, "Digital Audio Resampling Home
Page", CCRMA): after reducing ``orig_sr/new_sr`` by their gcd to ``M/L``, output sample ``n`` sits at input
time ``n*M/L``; there are only ``L`` distinct fractional phases, so one ``conv1d`` with ``L`` output channels
and stride ``M`` computes every output. Each phase is a sinc low-passed at ``rolloff * min(orig, new) / 2``
and tapered by a Hann window of ``zero_crossings`` lobes on each side. The audio encoder reuses
:func:`resample`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor


@lru_cache(maxsize=16)
def _sinc_kernels(orig: int, new: int, zero_crossings: int, rolloff: float) -> tuple[Tensor, int]:
    """(new, K) float64 filter bank, one row per output phase, and the left padding ``width`` it needs."""
    cutoff = min(orig, new) * rolloff  # lower rate's Nyquist, a bit under
    width = math.ceil(zero_crossings * orig / cutoff)  # half-length of the filter, in input samples
    taps = torch.arange(-width, width + orig, dtype=torch.float64) / orig  # input sample times / orig
    phases = -torch.arange(new, dtype=torch.float64)[:, None] / new  # each output's fractional offset
    t = (phases + taps[None, :]) * cutoff  # (new, K) time in zero crossings of the low-pass sinc
    t = t.clamp(-zero_crossings, zero_crossings)
    window = torch.cos(t * math.pi / (2 * zero_crossings)) ** 2  # Hann window spanning +-zero_crossings
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
    return sinc * window * (cutoff / orig), width


def resample(wave: Tensor, orig_sr: int, new_sr: int, zero_crossings: int = 6, rolloff: float = 0.99) -> Tensor:
    """Resample ``wave`` (..., L) from ``orig_sr`` to ``new_sr`` Hz; the output has ``ceil(L * new/orig)``
    samples along the last axis and the input's dtype. Frequencies above ``rolloff * min(orig, new) / 2`` are
    removed, so downsampling does not alias."""
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {new_sr}")
    if orig_sr == new_sr:
        return wave
    g = math.gcd(int(orig_sr), int(new_sr))
    orig, new = int(orig_sr) // g, int(new_sr) // g
    kernels, width = _sinc_kernels(orig, new, zero_crossings, rolloff)
    shape = wave.shape
    length = shape[-1]
    x = wave.reshape(-1, 1, length).to(torch.float64)  # (B, 1, L)
    x = F.pad(x, (width, width + orig))[:, 0]  # (B, L + pad)
    # strided windows times the filter bank == conv1d(stride=orig), but without conv's thread-pool start-up,
    # which dominates (and gets slow on a busy machine) for clips of a few thousand samples
    frames = x.unfold(-1, kernels.shape[1], orig)  # (B, frames, K)
    y = (frames @ kernels.T).reshape(x.shape[0], -1)  # (B, frames, new) -> (B, frames*new): output f*new+p
    out_len = math.ceil(new * length / orig)
    return y[:, :out_len].reshape(*shape[:-1], out_len).to(wave.dtype)


def resample_many(waves: list[Tensor], orig_sr: int, new_sr: int) -> list[Tensor]:
    """Resample many 1-D clips in one pass: they are laid end to end with zero gaps wider than the filter, so
    each output equals ``resample(clip)``, and thousands of short clips cost one matmul, not thousands."""
    if orig_sr == new_sr or not waves:
        return list(waves)
    g = math.gcd(int(orig_sr), int(new_sr))
    orig, new = int(orig_sr) // g, int(new_sr) // g
    _, width = _sinc_kernels(orig, new, 6, 0.99)
    gap = width + orig
    starts, pos = [], gap
    for w in waves:
        pos = -(-pos // orig) * orig  # clip starts on the output grid: a multiple of orig input samples
        starts.append(pos)
        pos += len(w) + gap
    line = torch.zeros(pos, dtype=waves[0].dtype)
    for s, w in zip(starts, waves):
        line[s : s + len(w)] = w
    out = resample(line, orig_sr, new_sr)
    return [
        out[s // orig * new : s // orig * new + math.ceil(new * len(w) / orig)].clone() for s, w in zip(starts, waves)
    ]
