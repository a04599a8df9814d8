"""AST audio encoder (Gong et al. 2021, arXiv 2104.01778 §2.1): Kaldi-style log-mel filterbank frames, padded or cut
to a fixed number of frames, normalised with the dataset's mean and std, then *overlapping* 16 x 16 patches
(stride 10 x 10) embedded by one convolution, with a learned position table.

It exists so an imported Hugging Face ``audio-spectrogram-transformer`` checkpoint computes exactly what
transformers computes: the features follow ``ASTFeatureExtractor`` without torchaudio (``audio_utils.spectrogram``
with ``remove_dc_offset``, pre-emphasis 0.97, a symmetric Hann window, a 512-point FFT, Kaldi mel filters
triangular in mel space, ``log(max(mel, 2^-23))``), computed in float64 as there. Unlike the default audio encoder
(``audio_spectrogram``) it has no padding mask: AST attends to the zero-padded frames too, as it was trained.
Its patches overlap, so masked pretraining would leak hidden input into kept tokens and is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from omnivec.config.encoder import EncoderConfig
from omnivec.errors import OmnivecError
from omnivec.nn.encoders.base import ENCODERS, Encoder, Unmaskable
from omnivec.types import EncoderInput, Modality, Tokens

MEL_FLOOR = 1.192092955078125e-07
"""float32 epsilon: the floor of the mel energies before the log (transformers' ASTFeatureExtractor)."""


@dataclass
class ASTEncoderConfig(EncoderConfig):
    sample_rate: int = 16000
    """Model sample rate; (waveform, rate) inputs at another rate are resampled to it."""
    num_mel_bins: int = 128
    """Mel filters (the spectrogram's height)."""
    max_length: int = 1024
    """Frames per input: shorter clips are zero-padded after the log, longer ones cut (10.24 s at 10 ms)."""
    frame_length: int = 400
    """Samples per frame (25 ms at 16 kHz)."""
    hop_length: int = 160
    """Samples between frames (10 ms at 16 kHz)."""
    n_fft: int = 512
    """FFT size (the frame zero-padded to it)."""
    mean: float = -4.2677393
    """Features are normalised as (x - mean) / (2 std) (AudioSet's statistics by default)."""
    std: float = 4.5689974
    """See mean."""
    patch_size: int = 16
    """Side of a square patch of (mel bins x frames)."""
    frequency_stride: int = 10
    """Stride between patches along the mel axis (patches overlap when < patch_size)."""
    time_stride: int = 10
    """Stride between patches along the frame axis."""


def kaldi_mel_filters(cfg: ASTEncoderConfig) -> Tensor:
    """(n_fft/2 + 1, num_mel_bins) triangles in Kaldi's mel space from 20 Hz to Nyquist, float64
    (``mel_filter_bank(..., mel_scale="kaldi", triangularize_in_mel_space=True)``)."""
    num_bins = cfg.n_fft // 2 + 1

    def mel(f: Tensor) -> Tensor:
        return 1127.0 * torch.log(1.0 + f / 700.0)

    edges = torch.linspace(
        float(mel(torch.tensor(20.0, dtype=torch.float64))),
        float(mel(torch.tensor(cfg.sample_rate // 2, dtype=torch.float64))),
        cfg.num_mel_bins + 2,
        dtype=torch.float64,
    )
    bin_width = cfg.sample_rate / ((num_bins - 1) * 2)
    fft_mels = mel(bin_width * torch.arange(num_bins, dtype=torch.float64))
    slopes = edges[None, :] - fft_mels[:, None]  # (F, M + 2)
    diff = edges.diff()
    down = -slopes[:, :-2] / diff[:-1]
    up = slopes[:, 2:] / diff[1:]
    return torch.clamp(torch.minimum(down, up), min=0.0)


@ENCODERS.register("audio_ast")
class ASTEncoder(Unmaskable, Encoder):
    modality = Modality.AUDIO
    Config = ASTEncoderConfig
    export_name = "waveforms"

    def __init__(self, cfg: ASTEncoderConfig, embed_dim: int) -> None:
        super().__init__(cfg, embed_dim)
        if cfg.frame_length > cfg.n_fft:
            raise OmnivecError(f"audio_ast encoder: frame_length {cfg.frame_length} exceeds n_fft {cfg.n_fft}")
        self.grid = self.token_grid()
        p = cfg.patch_size
        self.proj = nn.Conv2d(1, embed_dim, kernel_size=(p, p), stride=(cfg.frequency_stride, cfg.time_stride))
        self.pos_table = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1], embed_dim))
        nn.init.normal_(self.pos_table, std=0.02)
        self.window: Tensor
        self.mel_fb: Tensor
        self.register_buffer(
            "window", torch.hann_window(cfg.frame_length, periodic=False, dtype=torch.float64), persistent=False
        )
        self.register_buffer("mel_fb", kaldi_mel_filters(cfg), persistent=False)

    def token_grid(self) -> tuple[int, int]:
        """(mel patches, time patches) of the fixed-size input, as ``ASTEmbeddings.get_shape``."""
        c = self.cfg
        if min(c.num_mel_bins, c.max_length) < c.patch_size:
            raise OmnivecError(f"audio_ast encoder: patch_size {c.patch_size} exceeds the spectrogram")
        return (
            (c.num_mel_bins - c.patch_size) // c.frequency_stride + 1,
            (c.max_length - c.patch_size) // c.time_stride + 1,
        )

    def features(self, inp: EncoderInput) -> Tensor:
        """(B, L) waveforms (+ lengths) -> normalised log-mel features (B, max_length, num_mel_bins), float32,
        each sample's frames computed from its own samples only and zero beyond them, as a per-sample
        ``ASTFeatureExtractor`` call gives."""
        c = self.cfg
        wave = self.check(inp, 2, "waveforms (B, L)").to(torch.float64)
        B, L = wave.shape
        lengths = inp.lengths if inp.lengths is not None else torch.full((B,), L, device=wave.device)
        if c.frame_length > L:
            raise OmnivecError(f"audio_ast encoder: {L} samples are shorter than one frame ({c.frame_length})")
        frames = wave.unfold(1, c.frame_length, c.hop_length)  # (B, T, frame_length)
        frames = frames - frames.mean(-1, keepdim=True)  # remove the DC offset of each frame
        frames = torch.cat([frames[..., :1] * (1 - 0.97), frames[..., 1:] - 0.97 * frames[..., :-1]], dim=-1)
        spec = torch.fft.rfft(frames * self.window, n=c.n_fft).abs().pow(2)  # (B, T, F)
        logmel = torch.clamp(spec @ self.mel_fb, min=MEL_FLOOR).log().float()  # (B, T, M)
        T = logmel.shape[1]
        own = 1 + (lengths.to(wave.device) - c.frame_length) // c.hop_length  # frames of each sample alone
        logmel = logmel * (torch.arange(T, device=wave.device)[None, :] < own[:, None])[..., None]
        if c.max_length > T:
            logmel = torch.nn.functional.pad(logmel, (0, 0, 0, c.max_length - T))
        logmel = logmel[:, : c.max_length]
        return (logmel - c.mean) / (c.std * 2)

    def forward(self, inp: EncoderInput) -> Tokens:
        x = self.features(inp).transpose(1, 2)[:, None]  # (B, 1, M, T): mel bins are the rows
        x = self.proj(x)  # (B, D, grid_f, grid_t)
        x = x.flatten(2).transpose(1, 2)  # (B, N, D), row-major over (mel patch, time patch)
        return Tokens(x + self.pos_table, None, self.grid)

    @classmethod
    def read_options(cls, cfg: Any, shape: Sequence[int] = ()) -> dict[str, Any]:
        return {"sample_rate": int(cfg.sample_rate)}

    def example_samples(self, shape: Sequence[int] | None, g: torch.Generator) -> list[Any] | None:
        """Waveforms of three lengths (the features are padded to a fixed frame count either way)."""
        n = self.cfg.frame_length + self.cfg.hop_length * 20
        return [torch.randn(k, generator=g) * 0.1 for k in (n, n * 3 // 4, n // 2)]

    def collate(self, samples: list[Any]) -> EncoderInput:
        """1-D waveforms at ``sample_rate``, or ``(waveform, rate)`` pairs that get resampled; clips longer
        than ``max_length`` frames are cut, ones shorter than a frame padded with silence."""
        c = self.cfg
        longest = c.frame_length + (c.max_length - 1) * c.hop_length
        waves = []
        for i, s in enumerate(samples):
            wave, rate = s if isinstance(s, tuple) else (s, c.sample_rate)
            wave = torch.as_tensor(wave, dtype=torch.float32)
            if int(rate) != c.sample_rate:
                from omnivec.data.resample import resample

                wave = resample(wave, int(rate), c.sample_rate)
            if wave.ndim == 2:  # (channels, L) -> mono
                wave = wave.mean(0)
            if wave.ndim != 1:
                raise OmnivecError(f"audio sample {i}: expected a mono waveform (L,), got shape {tuple(wave.shape)}")
            wave = wave[:longest]
            if wave.numel() < c.frame_length:
                wave = torch.nn.functional.pad(wave, (0, c.frame_length - wave.numel()))
            waves.append(wave)
        lengths = torch.tensor([w.numel() for w in waves])
        batch = torch.zeros(len(waves), int(lengths.max()))
        for i, w in enumerate(waves):
            batch[i, : w.numel()] = w
        return EncoderInput(batch, lengths)
