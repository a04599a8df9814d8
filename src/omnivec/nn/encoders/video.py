"""Video encoder: a 3-D convolutional tokenizer (default) or tubelet embedding (ViViT/VideoMAE) down to one
token per tubelet, with fixed space-time sine-cosine positions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from omnivec.config.encoder import EncoderConfig
from omnivec.errors import OmnivecError
from omnivec.nn.encoders.base import ENCODERS
from omnivec.nn.encoders.patch_base import PatchEncoder, match_channels
from omnivec.types import EncoderInput, Modality


@dataclass
class ClipFilesConfig(EncoderConfig):
    """How a video encoder's files are decoded when no task fixes it: every video encoder's config extends it."""

    num_frames: int = 8
    """Video files are read as this many frames (a task trained on fixed-size clips reads its own number)."""
    frame_size: int = 64
    """... each resized to this square side (a task trained on fixed-size clips: its own)."""


@dataclass
class VideoEncoderConfig(ClipFilesConfig):
    in_chans: int = 3
    """Input channels; 1-channel clips are repeated when the encoder expects 3, RGB clips become gray (luma
    weights) when it expects 1."""
    patch_size: int = 8
    """Spatial side of a tubelet in pixels (a power of two); other frame sides are padded up to a multiple."""
    tubelet_size: int = 4
    """Frames per tubelet (a power of two); other clip lengths are padded up to a multiple."""
    stem: str = "cnn"
    """Tokenizer: cnn (3x3x3 conv stages, leak-free under masking), linear (one conv, ViViT/VideoMAE) or hmlp
    (per-tubelet hierarchical MLP)."""
    stem_width: int = 16
    """cnn stem: channels of the first stage; each later stage doubles them, up to the trunk width."""
    stem_entry: int = 2
    """cnn stem: the first conv is non-overlapping with this spatial stride (1: a 3x3x3 conv at full size,
    about twice the cost for a few points of accuracy: docs/learning.md)."""
    stem_norm: str = "layer"
    """cnn stem: layer (LayerNorm over channels at each position) or none (scaled weight standardisation, no
    norm: faint responses stay faint; the UnIVAL preset's, docs/unival.md "Encoders")."""
    augment_shift: int = 2
    """Training augmentation: random translation of the whole clip by up to this many pixels (0: off)."""
    mean: float = 0.5
    """Pixels are normalised as (x - mean) / std before the stem."""
    std: float = 0.25
    """See mean."""


@ENCODERS.register("video_tubelet")
class VideoEncoder(PatchEncoder):
    modality = Modality.VIDEO
    Config = VideoEncoderConfig
    input_desc = "clips (B, C, T, H, W)"
    default_mask_ratio = 0.9  # VideoMAE
    export_name = "clips"
    fixed_size_why = "the clip size of the run's data or --shape"

    def __init__(self, cfg: VideoEncoderConfig, embed_dim: int) -> None:
        super().__init__(cfg, embed_dim)
        self.patch = (cfg.tubelet_size, cfg.patch_size, cfg.patch_size)
        self.stem_entry = (1, cfg.stem_entry, cfg.stem_entry) if cfg.stem_entry > 1 else ()
        self.build_stem()

    @classmethod
    def read_options(cls, cfg: Any, shape: Sequence[int] = ()) -> dict[str, Any]:
        """Files are decoded to the channels this encoder takes, and for a task trained on [C, T, H, H] clips
        to T frames of that size (else to the config's ``num_frames`` of ``frame_size``)."""
        opts = super().read_options(cfg)
        opts.update(num_frames=int(cfg.num_frames), video_size=int(cfg.frame_size))
        if len(shape) == 4 and shape[2] == shape[3]:
            opts.update(num_frames=shape[1], video_size=shape[2])
        return opts

    def collate(self, samples: list[Any]) -> EncoderInput:
        xs = [torch.as_tensor(s, dtype=torch.float32) for s in samples]
        xs = [match_channels(x, self.cfg.in_chans, self.modality) if x.ndim == 4 else x for x in xs]
        shapes = {tuple(x.shape[1:]) for x in xs}
        if len(shapes) > 1:
            raise OmnivecError(f"video batch mixes shapes {sorted(shapes)}; sample clips to one T x H x W first")
        chans = max(x.shape[0] for x in xs)
        return EncoderInput(torch.stack([x.expand(chans, -1, -1, -1) for x in xs]))
