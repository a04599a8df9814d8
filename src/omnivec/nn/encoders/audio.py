"""Audio encoder: raw mono waveform -> log-mel spectrogram (torch.stft + our own mel filterbank, no
torchaudio) -> tokens over frequency x time, with padding masks for variable lengths. The tokenizer is a small
CNN over the spectrogram (default; as in CNN14 / the hybrid AST variants) or a linear patch embedding (AST /
Audio-MAE). By default a token covers every mel band and ``patch_time`` frames, so tokens follow time.

Frames are taken without centre padding, so a frame exists only where the whole window lies inside the
waveform; a padded batch therefore produces exactly the frames each sample produces alone, and the per-sample
normalisation statistics are computed over a sample's own valid frames only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from omnivec.config.encoder import EncoderConfig
from omnivec.errors import OmnivecError
from omnivec.nn.encoders.base import ENCODERS, Encoder, padding_or_none
from omnivec.nn.layers.convstem import ConvStem
from omnivec.nn.layers.patch import patchify
from omnivec.nn.layers.pos import sincos_nd
from omnivec.nn.layers.stem import patch_stem
from omnivec.nn.masking import Masked, sample_mask
from omnivec.types import EncoderInput, Modality, Tokens


@dataclass
class AudioEncoderConfig(EncoderConfig):
    sample_rate: int = 8000
    """Model sample rate; inputs given as (waveform, rate) at another rate are resampled to it."""
    n_fft: int = 256
    """FFT size (and Hann window length) in samples."""
    hop_length: int = 80
    """Samples between frames (10 ms at 8 kHz)."""
    n_mels: int = 32
    """Mel bands; must be divisible by patch_freq."""
    patch_freq: int = 32
    """Mel bands per token (a power of two for the cnn stem)."""
    patch_time: int = 8
    """Frames per token (a power of two for the cnn stem)."""
    stem: str = "cnn"
    """Tokenizer: cnn (3x3 conv stages over mel x time, leak-free under masking and padding) or linear (one
    patch embedding, AST / Audio-MAE)."""
    stem_width: int = 16
    """cnn stem: channels of the first stage; each later stage doubles them, up to the trunk width."""
    augment_shift_s: float = 0.05
    """Training augmentation: drop a random lead of up to this many seconds (a time shift; 0: off)."""
    augment_noise: float = 0.02
    """Training augmentation: add white noise at up to this fraction of each clip's RMS (0: off)."""
    max_seconds: float = 2.0
    """Longer waveforms are cropped to this many seconds (bounds the token count)."""
    f_min: float = 0.0
    """Lowest mel filter edge in Hz."""


def hz_to_mel(f: Tensor) -> Tensor:
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def mel_to_hz(m: Tensor) -> Tensor:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0) -> Tensor:
    """Triangular HTK-scale filters, (n_mels, n_freqs), each peaking at 1 (no area normalisation), f_max the
    Nyquist frequency, triangles drawn in Hz between mel-spaced edges (``transformers``' ``mel_filter_bank`` with
    ``mel_scale="htk", norm=None``; librosa's ``htk=True, norm=None``). The two end points go through mel in
    float32 (``torch.tensor(f_min)``), so values differ from a float64 filterbank by up to ~3e-6; kept, since
    changing it would change every audio model's features (tests/nn/test_parity_audio.py)."""
    f_max = sample_rate / 2
    freqs = torch.linspace(0, f_max, n_freqs, dtype=torch.float64)
    edges = mel_to_hz(
        torch.linspace(
            hz_to_mel(torch.tensor(f_min)).item(),
            hz_to_mel(torch.tensor(f_max)).item(),
            n_mels + 2,
            dtype=torch.float64,
        )
    )
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs - lo) / (mid - lo)
    down = (hi - freqs) / (hi - mid)
    return torch.clamp(torch.minimum(up, down), min=0.0).float()


@ENCODERS.register("audio_spectrogram")
class AudioEncoder(Encoder):
    modality = Modality.AUDIO
    Config = AudioEncoderConfig
    default_mask_ratio = 0.8  # AudioMAE
    export_name = "waveforms"

    def __init__(self, cfg: AudioEncoderConfig, embed_dim: int) -> None:
        super().__init__(cfg, embed_dim)
        if cfg.n_mels % cfg.patch_freq:
            raise OmnivecError(f"audio encoder: n_mels {cfg.n_mels} is not divisible by patch_freq {cfg.patch_freq}")
        self.patch = (cfg.patch_freq, cfg.patch_time)
        self.window: Tensor
        self.mel_fb: Tensor
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.register_buffer(
            "mel_fb",
            mel_filterbank(cfg.n_fft // 2 + 1, cfg.n_mels, cfg.sample_rate, cfg.f_min),
            persistent=False,
        )
        if cfg.stem == "cnn":
            self.stem = ConvStem(1, embed_dim, self.patch, cfg.stem_width)
        elif cfg.stem == "linear":
            self.proj = patch_stem("linear", 1, embed_dim, self.patch)
        else:
            raise OmnivecError(f"audio encoder: unknown stem {cfg.stem!r}; expected cnn or linear")

    @property
    def min_samples(self) -> int:
        """The shortest waveform that still fills one patch."""
        return self.cfg.n_fft + (self.cfg.patch_time - 1) * self.cfg.hop_length

    def valid_patches(self, lengths: Tensor) -> Tensor:
        frames = torch.clamp((lengths - self.cfg.n_fft) // self.cfg.hop_length + 1, min=0)
        return frames // self.cfg.patch_time

    def log_mel(self, wave: Tensor) -> Tensor:
        """(B, L) waveforms -> log-mel power (B, n_mels, frames), before normalisation: periodic Hann window,
        frames without centre padding, |STFT|^2, the HTK filters of :func:`mel_filterbank`, then
        ``log(mel + 1e-6)`` (natural log, additive floor). tests/nn/test_parity_audio.py checks it against
        ``transformers.audio_utils``."""
        spec = torch.stft(
            wave, self.cfg.n_fft, self.cfg.hop_length, window=self.window, center=False, return_complex=True
        )  # (B, F, frames)
        mel = self.mel_fb @ spec.abs().pow(2)  # (B, n_mels, frames)
        return torch.log(mel + 1e-6)

    def spectrogram(self, inp: EncoderInput) -> tuple[Tensor, Tensor]:
        """(B, L) waveforms -> normalised log-mel (B, 1, n_mels, T) cut to whole patches, and valid time patches
        per sample (B,)."""
        wave = self.check(inp, 2, "waveforms (B, L)")
        B, L = wave.shape
        lengths = inp.lengths if inp.lengths is not None else torch.full((B,), L, device=wave.device)
        if self.min_samples > L:
            raise OmnivecError(
                f"audio encoder: waveforms of {L} samples are shorter than one patch "
                f"({self.min_samples} samples); collate() pads short clips"
            )
        logmel = self.log_mel(wave)
        patches = self.valid_patches(lengths)  # (B,)
        T = (logmel.shape[-1] // self.cfg.patch_time) * self.cfg.patch_time
        logmel = logmel[..., :T]
        valid = torch.arange(T, device=wave.device)[None, :] < (patches * self.cfg.patch_time)[:, None]  # (B, T)
        w = valid[:, None, :].float()
        n = (w.sum(dim=(1, 2)) * self.cfg.n_mels).clamp(min=1.0)
        mean = (logmel * w).sum(dim=(1, 2)) / n
        var = (((logmel - mean[:, None, None]) ** 2) * w).sum(dim=(1, 2)) / n
        logmel = (logmel - mean[:, None, None]) / (var[:, None, None].sqrt() + 1e-5) * w
        return logmel[:, None], patches

    def augment(
        self, inp: EncoderInput, g: torch.Generator, dense: Tensor | None = None
    ) -> tuple[EncoderInput, Tensor | None]:
        """A random time shift (a dropped lead, never below one token) and low-level white noise per clip."""
        cfg = self.cfg
        wave = self.check(inp, 2, "waveforms (B, L)")
        B, L = wave.shape
        lengths = inp.lengths if inp.lengths is not None else torch.full((B,), L)
        max_lead = int(cfg.augment_shift_s * cfg.sample_rate)
        out = wave.clone()
        new_lengths = lengths.clone()
        if max_lead > 0:
            room = (lengths - self.min_samples).clamp(min=0).clamp(max=max_lead)
            leads = (torch.rand(B, generator=g) * (room + 1).float()).long()
            for i, lead in enumerate(leads.tolist()):
                n = int(lengths[i]) - lead
                out[i, :n] = wave[i, lead : lead + n]
                out[i, n:] = 0.0
                new_lengths[i] = n
        if cfg.augment_noise > 0:
            valid = torch.arange(L)[None, :] < new_lengths[:, None]
            rms = ((out**2 * valid).sum(1) / valid.sum(1).clamp(min=1)).sqrt()
            level = torch.rand(B, generator=g) * cfg.augment_noise * rms
            out = out + torch.randn(B, L, generator=g) * level[:, None] * valid
        return EncoderInput(out, new_lengths), dense

    def _embed(self, spec: Tensor, keep: Tensor | None) -> Tensor:
        """(B, 1, F, T) spectrogram -> (B, D, F/pf, T/pt); ``keep`` (B, F/pf, T/pt) marks the visible tokens
        (valid and unmasked) for the cnn stem, which zeroes every other position at every stage."""
        if self.cfg.stem == "cnn":
            return self.stem(spec, keep)[0]
        return self.proj(spec)

    def _tokens(self, x: Tensor, patches: Tensor) -> Tokens:
        grid = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)  # (B, N, D), row-major over (freq band, time patch)
        return Tokens(x + sincos_nd(self.embed_dim, grid, x.device), padding_or_none(self._pad(grid, patches)), grid)

    def _pad(self, grid: tuple[int, int], patches: Tensor) -> Tensor:
        time_idx = torch.arange(grid[1], device=patches.device).repeat(grid[0])  # (N,)
        return time_idx[None, :] >= patches[:, None]  # (B, N)

    def forward(self, inp: EncoderInput) -> Tokens:
        spec, patches = self.spectrogram(inp)
        grid = (spec.shape[2] // self.patch[0], spec.shape[3] // self.patch[1])
        valid = ~self._pad(grid, patches).view(-1, *grid)
        return self._tokens(self._embed(spec, valid), patches)

    def masked_tokens(
        self, inp: EncoderInput, ratio: float, own_patch: bool = False
    ) -> tuple[Masked, tuple[int, ...], Tensor | None]:
        """The cnn stem masks every stage (``own_patch`` is not taken here: a padded spectrogram's patches are
        masked by length, not embedded alone)."""
        if self.cfg.stem != "cnn":
            return super().masked_tokens(inp, ratio)
        spec, patches = self.spectrogram(inp)
        grid = (spec.shape[2] // self.patch[0], spec.shape[3] // self.patch[1])
        pad = self._pad(grid, patches)
        m = sample_mask(spec.shape[0], grid[0] * grid[1], ratio, pad, spec.device)
        # the stem at the kept slots only (ConvStem.forward_kept); a short clip's spare slots come out zero
        kept = self.stem.forward_kept(spec, m.ids_keep, (~m.mask).view(-1, *grid))
        kept = kept + sincos_nd(self.embed_dim, grid, spec.device)[m.ids_keep]
        return m._replace(kept=kept), grid, padding_or_none(pad)

    def patch_targets(self, inp: EncoderInput) -> Tensor:
        spec, _ = self.spectrogram(inp)
        return patchify(spec, self.patch)  # (B, N, pf*pt)

    @classmethod
    def read_options(cls, cfg: Any, shape: Sequence[int] = ()) -> dict[str, Any]:
        return {"sample_rate": int(cfg.sample_rate)}

    def target_dim(self) -> int:
        return int(self.cfg.patch_freq * self.cfg.patch_time)

    def example_samples(self, shape: Sequence[int] | None, g: torch.Generator) -> list[Any] | None:
        """Waveforms of three lengths, so the traced batch is padded."""
        L = int(self.cfg.sample_rate * self.cfg.max_seconds)
        return [torch.randn(n, generator=g) * 0.1 for n in (L, L * 3 // 4, L // 2)]

    def collate(self, samples: list[Any]) -> EncoderInput:
        """Samples are 1-D waveforms at ``sample_rate``, or ``(waveform, rate)`` pairs that get resampled."""
        cfg = self.cfg
        waves = []
        for i, s in enumerate(samples):
            if isinstance(s, tuple):
                wave, rate = s
                wave = torch.as_tensor(wave, dtype=torch.float32)
                if int(rate) != cfg.sample_rate:
                    from omnivec.data.resample import resample

                    wave = resample(wave, int(rate), cfg.sample_rate)
            else:
                wave = torch.as_tensor(s, dtype=torch.float32)
            if wave.ndim == 2:  # (channels, L) -> mono
                wave = wave.mean(0)
            if wave.ndim != 1:
                raise OmnivecError(f"audio sample {i}: expected a mono waveform (L,), got shape {tuple(wave.shape)}")
            wave = wave[: int(cfg.max_seconds * cfg.sample_rate)]
            if wave.numel() < self.min_samples:  # too short for one patch: pad with silence
                wave = torch.nn.functional.pad(wave, (0, self.min_samples - wave.numel()))
            waves.append(wave)
        lengths = torch.tensor([w.numel() for w in waves])
        L = int(lengths.max())
        # Round the batch length up to whole hops so the frame grid is the same for every batch.
        L = self.cfg.n_fft + math.ceil((L - self.cfg.n_fft) / self.cfg.hop_length) * self.cfg.hop_length
        batch = torch.zeros(len(waves), L)
        for i, w in enumerate(waves):
            batch[i, : w.numel()] = w
        return EncoderInput(batch, lengths)
