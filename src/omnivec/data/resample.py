"""Band-limited resampling with a windowed-sinc filter, in plain torch (no torchaudio), at a cost that does not
depend on the rates' prime factors.

This is bandlimited interpolation (J. O. Smith, "Digital Audio Resampling Home Page", CCRMA): after reducing
``orig_sr/new_sr`` by their gcd to ``M/L``, output sample ``n`` sits at input time ``n*M/L``, and is the sum of
the input samples within ``width`` of it, weighted by a sinc low-passed at ``rolloff * min(orig, new) / 2`` and
tapered by a Hann window of ``zero_crossings`` lobes on each side. Two ways compute the same sum:

- **polyphase** (:func:`_polyphase`): there are only ``L`` distinct fractional phases, so one filter bank of
  ``L`` rows and strided windows of the input give every output by a matrix product. Its bank has
  ``L * (2 * width + M)`` entries: small for the usual rates (44.1 kHz -> 16 kHz: 160 x 475), but
  ~(rate/gcd)^2 for a coprime pair (8001 -> 16000 Hz: 16000 x 8014, 1 GB of float64).
- **direct** (:func:`_direct`): each output's ``2 * width`` weights are computed from its own phase, a block
  of outputs at a time. Its cost is ``2 * width`` multiply-adds per output, with ``width`` about
  ``zero_crossings * max(1, M/L)``, i.e. ~12 x the longer of input and output whatever the rates.

:func:`resample` takes the polyphase way when its bank has at most :data:`MAX_BANK` entries and the direct way
otherwise; both are processed in blocks of at most :data:`BLOCK` float64 values, so memory stays a small
multiple of the input and output sizes. The two agree to float64 rounding (tests/data/test_bounded_inputs.py). The
audio encoder reuses :func:`resample`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

MAX_BANK = 1 << 19
"""Entries of the largest polyphase filter bank built (4 MiB of float64); larger ones take the direct way."""

BANK_CACHE = 8
"""Banks kept for reuse (FSDD resamples thousands of clips at one rate): at most 8 x 4 MiB."""

BLOCK = 1 << 20
"""float64 values per block of work (8 MiB; a block holds a few such temporaries)."""


def _reduced(orig_sr: int, new_sr: int) -> tuple[int, int]:
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {new_sr}")
    g = math.gcd(int(orig_sr), int(new_sr))
    return int(orig_sr) // g, int(new_sr) // g


def resampled_length(length: int, orig_sr: int, new_sr: int) -> int:
    """Samples :func:`resample` returns for ``length`` input samples: ``ceil(length * new / orig)``."""
    orig, new = _reduced(orig_sr, new_sr)
    return -(-int(length) * new // orig)


def _width(orig: int, new: int, zero_crossings: int, rolloff: float) -> tuple[float, int]:
    """(cutoff in reduced-rate units, half-length of the filter in input samples)."""
    cutoff = min(orig, new) * rolloff  # lower rate's Nyquist, a bit under
    return cutoff, math.ceil(zero_crossings * orig / cutoff)


def _weights(t: Tensor, zero_crossings: int, scale: float) -> Tensor:
    """Windowed sinc at ``t`` (in zero crossings of the low-pass), times ``scale``."""
    t = t.clamp(-zero_crossings, zero_crossings)
    window = torch.cos(t * math.pi / (2 * zero_crossings)) ** 2  # Hann window spanning +-zero_crossings
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
    return sinc * window * scale


@lru_cache(maxsize=BANK_CACHE)
def _sinc_kernels(orig: int, new: int, zero_crossings: int, rolloff: float) -> tuple[Tensor, int]:
    """(new, K) float64 filter bank, one row per output phase, and the left padding ``width`` it needs."""
    cutoff, width = _width(orig, new, zero_crossings, rolloff)
    taps = torch.arange(-width, width + orig, dtype=torch.float64) / orig  # input sample times / orig
    phases = -torch.arange(new, dtype=torch.float64)[:, None] / new  # each output's fractional offset
    t = (phases + taps[None, :]) * cutoff  # (new, K) time in zero crossings of the low-pass sinc
    return _weights(t, zero_crossings, cutoff / orig), width


def _polyphase(x: Tensor, orig: int, new: int, zero_crossings: int, rolloff: float, out_len: int) -> Tensor:
    """(B, L) -> (B, out_len) float64 through the cached bank; frames of ``orig`` input samples, each giving
    ``new`` outputs, a block of frames at a time."""
    kernels, width = _sinc_kernels(orig, new, zero_crossings, rolloff)
    B, length = x.shape
    x = F.pad(x, (width, width + orig))  # (B, L + pad), zeros outside the clip
    frames = x.unfold(-1, kernels.shape[1], orig)  # (B, F, K): a view, copied one block at a time below
    num_frames = -(-out_len // new)
    y = torch.empty(B, num_frames * new, dtype=torch.float64)
    step = max(1, BLOCK // (B * max(kernels.shape[1], new)))
    for f0 in range(0, num_frames, step):
        f1 = min(num_frames, f0 + step)
        # strided windows times the filter bank == conv1d(stride=orig), but without conv's thread-pool
        # start-up, which dominates (and gets slow on a busy machine) for clips of a few thousand samples
        block = frames[:, f0:f1].to(torch.float64) @ kernels.T  # (B, f, new): output f*new + p
        y[:, f0 * new : f1 * new] = block.reshape(B, -1)
    return y[:, :out_len]


def _direct(x: Tensor, orig: int, new: int, zero_crossings: int, rolloff: float, out_len: int) -> Tensor:
    """(B, L) -> (B, out_len) float64, each output's weights computed from its own phase, a block of outputs
    at a time: no filter bank, so the cost does not grow with ``new``."""
    cutoff, width = _width(orig, new, zero_crossings, rolloff)
    B, length = x.shape
    x = F.pad(x, (width, width + 1))  # zeros outside the clip; input sample i sits at x[:, i + width]
    offsets = torch.arange(-width + 1, width + 1)  # (2W,) taps around floor(n * orig / new)
    y = torch.empty(B, out_len, dtype=torch.float64)
    step = max(1, BLOCK // (B * offsets.numel()))
    for n0 in range(0, out_len, step):
        n = torch.arange(n0, min(out_len, n0 + step), dtype=torch.int64)
        pos = n * orig  # exact: output n sits at input time pos / new
        base = torch.div(pos, new, rounding_mode="floor")
        frac = (pos - base * new).to(torch.float64) / new  # in [0, 1)
        t = (offsets[None, :] - frac[:, None]) * (cutoff / orig)  # (n, 2W) in zero crossings
        w = _weights(t, zero_crossings, cutoff / orig)
        taps = x[:, (base[:, None] + offsets[None, :] + width)]  # (B, n, 2W)
        y[:, n0 : n0 + n.numel()] = (taps.to(torch.float64) * w).sum(-1)
    return y


def _bank_size(orig: int, new: int, zero_crossings: int, rolloff: float) -> int:
    _, width = _width(orig, new, zero_crossings, rolloff)
    return new * (2 * width + orig)


def resample(wave: Tensor, orig_sr: int, new_sr: int, zero_crossings: int = 6, rolloff: float = 0.99) -> Tensor:
    """Resample ``wave`` (..., L) from ``orig_sr`` to ``new_sr`` Hz; the output has ``ceil(L * new/orig)``
    samples along the last axis and the input's dtype. Frequencies above ``rolloff * min(orig, new) / 2`` are
    removed, so downsampling does not alias."""
    orig, new = _reduced(orig_sr, new_sr)
    if orig == new:
        return wave
    shape = wave.shape
    length = shape[-1]
    out_len = resampled_length(length, orig, new)
    x = wave.reshape(-1, length)  # (B, L), converted to float64 a block at a time
    if _bank_size(orig, new, zero_crossings, rolloff) <= MAX_BANK:
        y = _polyphase(x, orig, new, zero_crossings, rolloff, out_len)
    else:
        y = _direct(x, orig, new, zero_crossings, rolloff, out_len)
    return y.reshape(*shape[:-1], out_len).to(wave.dtype)


def resample_many(waves: list[Tensor], orig_sr: int, new_sr: int) -> list[Tensor]:
    """Resample many 1-D clips in one pass: they are laid end to end with zero gaps wider than the filter, so
    each output equals ``resample(clip)``, and thousands of short clips cost one matmul, not thousands. Rates
    whose bank would be too large (see :func:`resample`) are resampled one clip at a time."""
    if orig_sr == new_sr or not waves:
        return list(waves)
    orig, new = _reduced(orig_sr, new_sr)
    if _bank_size(orig, new, 6, 0.99) > MAX_BANK:  # clips would start on multiples of orig: gaps of ~orig
        return [resample(w, orig_sr, new_sr) for w in waves]
    _, width = _width(orig, new, 6, 0.99)
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
