"""CNN14-style audio encoder (PANNs; UnIVAL's audio encoder, arXiv 2307.16184 §4.3): the log-mel of
``audio_spectrogram`` -> conv blocks (two 3x3 convs + 2x2 average pooling each) -> mean over frequency ->
one token per remaining time step, (B, T', D), padded steps masked. Selectable with
``encoders.audio.name: audio_cnn14``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from omnivec.config.encoder import EncoderConfig
from omnivec.nn.encoders.audio import AudioEncoder, mel_filterbank
from omnivec.nn.encoders.base import ENCODERS, Unmaskable, padding_or_none
from omnivec.nn.layers.pos import sincos_nd
from omnivec.types import EncoderInput, Tokens


@dataclass
class AudioCNN14Config(EncoderConfig):
    sample_rate: int = 8000
    """Model sample rate; (waveform, rate) inputs are resampled to it."""
    n_fft: int = 256
    """FFT size in samples."""
    hop_length: int = 80
    """Samples between frames."""
    n_mels: int = 32
    """Mel bands."""
    width: int = 16
    """Channels of the first conv block; each later block doubles them (CNN14 uses 64 over 6 blocks)."""
    blocks: int = 3
    """Conv blocks, each pooling time and frequency by 2."""
    max_seconds: float = 2.0
    """Longer waveforms are cropped."""
    f_min: float = 0.0
    """Lowest mel filter edge in Hz."""

    @property
    def patch_freq(self) -> int:
        return 1

    @property
    def patch_time(self) -> int:
        return 2**self.blocks


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
        nn.GroupNorm(min(8, cout), cout),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
        nn.GroupNorm(min(8, cout), cout),
        nn.ReLU(),
        nn.AvgPool2d(2),
    )


@ENCODERS.register("audio_cnn14")
class AudioCNN14Encoder(Unmaskable, AudioEncoder):
    Config = AudioCNN14Config  # type: ignore[assignment]

    def __init__(self, cfg: AudioCNN14Config, embed_dim: int) -> None:
        nn.Module.__init__(self)
        self.cfg = cfg
        self.embed_dim = embed_dim
        self.patch = (1, cfg.patch_time)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.register_buffer(
            "mel_fb",
            mel_filterbank(cfg.n_fft // 2 + 1, cfg.n_mels, cfg.sample_rate, cfg.f_min),
            persistent=False,
        )
        chans = [1] + [cfg.width * 2**i for i in range(cfg.blocks)]
        self.blocks = nn.Sequential(*(_conv_block(chans[i], chans[i + 1]) for i in range(cfg.blocks)))
        self.proj = nn.Linear(chans[-1], embed_dim)

    def forward(self, inp: EncoderInput) -> Tokens:
        spec, steps = self.spectrogram(inp)  # (B, 1, n_mels, T), valid time steps (B,) after pooling
        x: Tensor = self.blocks(spec)  # (B, C, n_mels / 2**k, T / 2**k)
        x = self.proj(x.mean(2).transpose(1, 2))  # (B, T', D)
        steps = steps.clamp(max=x.shape[1])
        pad = torch.arange(x.shape[1], device=x.device)[None, :] >= steps[:, None]  # (B, T')
        pad[:, 0] = False  # a clip shorter than one step still keeps one token
        grid = (x.shape[1],)
        return Tokens(x + sincos_nd(self.embed_dim, grid, x.device), padding_or_none(pad), grid)
