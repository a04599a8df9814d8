"""The light MAE decoder (arXiv 2111.06377 §3): trunk features of the visible tokens + a mask token at every
hidden position + positions -> a few narrow transformer blocks -> a per-token prediction of the hidden target.

One decoder is shared by every modality (the blocks), with per-modality pieces where the shapes differ: a
learned
mask token (trunk width), the output projection to that modality's target size (pixels of a patch,
log-mel bins of
a spectrogram patch, ``k*3`` coordinates of a point group, or vocabulary logits for text). Sharing the
blocks keeps
the decoder a small fraction of the trunk however many modalities there are, and the decoder is dropped after
pretraining anyway (docs/recipe.md explains the choice).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.nn.layers.attention import Block, init_weights, key_padding_to_attn_mask
from omnivec.nn.masking import unshuffle


class ReconstructionDecoder(nn.Module):
    def __init__(
        self,
        embed_dim: int,
        target_dims: dict[str, int],
        decoder_dim: int = 64,
        depth: int = 1,
        num_heads: int = 2,
    ) -> None:
        super().__init__()
        self.mask_token = nn.ParameterDict({m: nn.Parameter(torch.zeros(1, 1, embed_dim)) for m in target_dims})
        self.embed = nn.Linear(embed_dim, decoder_dim)
        self.blocks = nn.ModuleList(Block(decoder_dim, num_heads) for _ in range(depth))
        self.norm = nn.LayerNorm(decoder_dim)
        self.out = nn.ModuleDict({m: nn.Linear(decoder_dim, p) for m, p in target_dims.items()})
        init_weights(self)
        for p in self.mask_token.values():
            nn.init.normal_(p, std=0.02)

    def forward(
        self,
        modality: str,
        visible: Tensor,
        ids_restore: Tensor,
        hidden: Tensor,
        pos: Tensor,
        pad_mask: Tensor | None = None,
    ) -> Tensor:
        """visible: (B, K, D) trunk outputs of the kept slots (prefix removed); hidden: (B, N) True where the
        decoder must not see the slot's content (masked or padding); pos: (B or 1, N, D) positions in
        trunk width;
        pad_mask: (B, N) padding. Returns (B, N, P) predictions in token order."""
        # embed(where(hidden, tok, restore(visible)) + pos), computed in decoder width on the K visible tokens
        # (MAE's order: project first, then fill in mask tokens): the same numbers, a quarter of the work.
        tok = self.embed(self.mask_token[modality])  # (1, 1, E)
        full = unshuffle(self.embed(visible), tok, ids_restore)
        full = torch.where(hidden[..., None], tok.to(full.dtype), full)  # unused kept slots hold real content
        x = full + F.linear(pos, self.embed.weight)
        attn_mask = key_padding_to_attn_mask(pad_mask)
        for block in self.blocks:
            x = block(x, attn_mask)
        return self.out[modality](self.norm(x))


__all__ = ["ReconstructionDecoder"]
