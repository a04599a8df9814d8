"""Image encoder: a convolutional tokenizer (default) or a patch embedding (ViT/MAE) down to one token per
``patch_size`` x ``patch_size`` pixels, with fixed 2-D sine-cosine positions, so any image size is accepted
without resizing a position table (sides are padded up to whole tokens)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from omnivec.config.encoder import EncoderConfig
from omnivec.errors import OmnivecError
from omnivec.nn.encoders.base import ENCODERS
from omnivec.nn.encoders.patch_base import PatchEncoder, match_channels
from omnivec.types import EncoderInput, Modality


@dataclass
class ImageEncoderConfig(EncoderConfig):
    in_chans: int = 3
    """Input channels; 1-channel images are repeated when the encoder expects 3, RGB images become gray (luma
    weights) when it expects 1."""
    patch_size: int = 8
    """Pixels per token along each side (a power of two); other image sides are padded up to a multiple."""
    stem: str = "cnn"
    """Tokenizer: cnn (3x3 conv stages, learns like a small CNN, leak-free under masking), linear (one conv,
    ViT/MAE), hmlp (per-patch hierarchical MLP) or conv (overlapping stride-2 convs, not leak-free)."""
    stem_width: int = 32
    """cnn stem: channels of the first stage; each later stage doubles them, up to the trunk width."""
    stem_entry: int = 1
    """cnn stem: 1 starts with a 3x3 conv at full resolution; 2 (or 4) with a non-overlapping conv of that
    stride (about half the stem's cost, a little accuracy: docs/learning.md)."""
    stem_norm: str = "layer"
    """cnn stem: layer (LayerNorm over channels at each position) or none (scaled weight standardisation, no
    norm: faint responses stay faint; the UnIVAL preset's, docs/unival.md "Encoders")."""
    augment_shift: int = 2
    """Training augmentation: random translation by up to this many pixels (0: off)."""
    mean: float | list[float] = 0.5
    """Pixels are normalised as (x - mean) / std before the stem: one value, or one per channel (an imported
    checkpoint's ``image_mean`` from its preprocessor_config.json)."""
    std: float | list[float] = 0.25
    """See mean."""
    pos_embed: str = "sincos"
    """Token positions: sincos (fixed, any image size) or learned (a table over ``pos_grid``, as in ViT; other
    grids get it resized bicubically)."""
    pos_grid: list[int] = field(default_factory=list)
    """learned positions: the token grid [rows, cols] of the table (e.g. [14, 14] for ViT-B/16 at 224)."""


@ENCODERS.register("image_patch")
class ImageEncoder(PatchEncoder):
    modality = Modality.IMAGE
    Config = ImageEncoderConfig
    input_desc = "images (B, C, H, W)"
    export_name = "images"
    fixed_size_why = "the image size of the run's data or --shape"

    def __init__(self, cfg: ImageEncoderConfig, embed_dim: int) -> None:
        super().__init__(cfg, embed_dim)
        p = cfg.patch_size
        self.patch = (p, p)
        self.stem_entry = (cfg.stem_entry, cfg.stem_entry) if cfg.stem_entry > 1 else ()
        self.build_stem()

    @classmethod
    def read_options(cls, cfg: Any, shape: Sequence[int] = ()) -> dict[str, Any]:
        """Files are decoded to the channels this encoder takes, with learned positions to the image size they
        were learned at (a ViT's 224 x 224), and for a task trained on square [C, H, H] images to that size."""
        opts = super().read_options(cfg)
        if getattr(cfg, "pos_embed", "sincos") == "learned" and len(set(cfg.pos_grid)) == 1:
            opts["image_size"] = cfg.pos_grid[0] * cfg.patch_size
        if len(shape) == 3 and shape[1] == shape[2]:
            opts.update(image_size=shape[1], channels=shape[0])
        return opts

    def collate(self, samples: list[Any]) -> EncoderInput:
        xs = [torch.as_tensor(s, dtype=torch.float32) for s in samples]
        xs = [x[None] if x.ndim == 2 else x for x in xs]
        xs = [match_channels(x, self.cfg.in_chans, self.modality) if x.ndim == 3 else x for x in xs]
        shapes = {tuple(x.shape[-2:]) for x in xs}
        if len(shapes) > 1:
            raise OmnivecError(f"image batch mixes sizes {sorted(shapes)}; resize them to one size first")
        chans = max(x.shape[0] for x in xs)
        return EncoderInput(torch.stack([x.expand(chans, -1, -1) for x in xs]))
