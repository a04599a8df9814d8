"""Audio (WAV/FLAC/OGG via libsndfile) -> float32 mono (L,) in [-1, 1], resampled on request; a WAV whose
RIFF data chunk is cut off is reported as truncated rather than read as a shorter clip."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from omnivec.data.readers.validate import check_finite, existing_file
from omnivec.data.resample import resample
from omnivec.data.root import StrPath
from omnivec.errors import DataError

MAX_AUDIO_SECONDS = 3600.0


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


def read_audio(path: StrPath, sample_rate: int | None = None) -> Tensor:
    """WAV/FLAC/OGG -> float32 mono (L,) in [-1, 1], resampled to ``sample_rate`` (None keeps the file's)."""
    wave, sr = read_audio_native(path)
    if sample_rate is not None and sr != sample_rate:
        wave = resample(wave, sr, sample_rate)
    return wave


def read_audio_native(path: StrPath) -> tuple[Tensor, int]:
    """(mono float32 wave, the file's sample rate)."""
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
            if frames > MAX_AUDIO_SECONDS * sr:
                raise DataError(p, f"absurd dimensions: {frames:,} frames ({frames / sr:.0f} s) declared")
            data = f.read(dtype="float32", always_2d=True)  # (L, C)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise DataError(p, f"not a readable audio file ({e})") from None
    if data.shape[0] == 0:
        raise DataError(p, "truncated audio: no samples could be decoded")
    check_finite(data, p, "audio samples")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32)), sr
