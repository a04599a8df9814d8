"""Audio (WAV/FLAC/OGG via libsndfile) -> float32 mono (L,) in [-1, 1], resampled on request; a WAV whose
RIFF data chunk is cut off is reported as truncated rather than read as a shorter clip.

What a file costs is read from its header before any sample is decoded: frames x channels, and the length
after resampling, each at most ``max_samples`` (:data:`~omnivec.data.readers.validate.MAX_AUDIO_SAMPLES`).
Channels are mixed to mono block by block, so a stereo file never holds its (L, C) samples at once."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from omnivec.data.readers.validate import MAX_AUDIO_SAMPLES, check_finite, check_limit, existing_file
from omnivec.data.resample import resample, resampled_length
from omnivec.data.root import StrPath
from omnivec.errors import DataError

BLOCK_FRAMES = 1 << 16
"""Frames decoded per block while mixing to mono."""


def _check_riff(p: Path) -> None:
    """libsndfile quietly reads what it can of a cut-off WAV; check the RIFF data chunk against the file size
    so a truncated file is reported as such instead of yielding a shorter clip."""
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # not RIFF/WAVE (or RF64, ...): let libsndfile decide
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_len = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                have = size - pos - 8
                if chunk_len > have and chunk_len != 0xFFFFFFFF:
                    msg = f"truncated WAV: data chunk declares {chunk_len:,} bytes, {have:,} in file"
                    raise DataError(p, msg)
                return
            pos += 8 + chunk_len + (chunk_len & 1)
        raise DataError(p, "truncated WAV: no data chunk")


def read_audio(path: StrPath, sample_rate: int | None = None, max_samples: int = MAX_AUDIO_SAMPLES) -> Tensor:
    """WAV/FLAC/OGG -> float32 mono (L,) in [-1, 1], resampled to ``sample_rate`` (None keeps the file's)."""
    wave, sr = read_audio_native(path, max_samples, sample_rate)
    if sample_rate is not None and sr != sample_rate:
        wave = resample(wave, sr, sample_rate)
    return wave


def read_audio_native(
    path: StrPath, max_samples: int = MAX_AUDIO_SAMPLES, sample_rate: int | None = None
) -> tuple[Tensor, int]:
    """(mono float32 wave, the file's sample rate). Refused from the header, before decoding, when frames x
    channels or the length resampled to ``sample_rate`` (when given) exceeds ``max_samples``."""
    p = existing_file(path)
    if p.suffix.lower() == ".wav":
        _check_riff(p)
    try:
        with sf.SoundFile(p) as f:
            sr, frames, chans = f.samplerate, f.frames, f.channels
            if sr <= 0 or chans <= 0:
                raise DataError(p, f"absurd audio header: {sr} Hz, {chans} channels")
            if frames <= 0:
                raise DataError(p, "no audio samples")
            what = f"samples ({frames:,} frames x {chans} channels at {sr:,} Hz)"
            check_limit(frames * chans, p, what, max_samples, "max_audio_samples")
            if sample_rate is not None and sample_rate != sr:
                n = resampled_length(frames, sr, sample_rate)
                check_limit(
                    n, p, f"samples after resampling {sr:,} -> {sample_rate:,} Hz", max_samples, "max_audio_samples"
                )
            mono = _read_mono(f, frames, chans)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise DataError(p, f"not a readable audio file ({e})") from None
    if mono.shape[0] == 0:
        raise DataError(p, "truncated audio: no samples could be decoded")
    check_finite(mono, p, "audio samples")
    return torch.from_numpy(mono), sr


def _read_mono(f: sf.SoundFile, frames: int, chans: int) -> np.ndarray:
    """The file's samples mixed to float32 mono, decoded a block at a time (at most ``frames``: a header may
    overstate its length, and then fewer come back)."""
    mono = np.empty(frames, dtype=np.float32)
    filled = 0
    while filled < frames:
        block = f.read(min(BLOCK_FRAMES, frames - filled), dtype="float32", always_2d=True)  # (l, C)
        if block.shape[0] == 0:
            break
        mono[filled : filled + block.shape[0]] = block.mean(axis=1) if chans > 1 else block[:, 0]
        filled += block.shape[0]
    return mono[:filled] if filled < frames else mono
