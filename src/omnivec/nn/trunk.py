"""The shared transformer trunk. It sees tokens (B, N, D) and a padding mask, and nothing about modalities:
that is what lets one set of weights serve every encoder (OmniVec's "bottleneck" trunk)."""

from __future__ import annotations

from torch import Tensor, nn

from omnivec.nn.layers.attention import Block, key_padding_to_attn_mask, run_block


class Trunk(nn.Module):
    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        layer_scale: float = 0.0,
        post_norm: bool = False,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        rates = [drop_path * i / max(depth - 1, 1) for i in range(depth)]  # stochastic depth grows with depth
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, r, layer_scale, post_norm, norm_eps) for r in rates
        )
        # a post-norm stack already ends in a norm (BERT/BART have no final one)
        self.norm: nn.Module = nn.Identity() if post_norm else nn.LayerNorm(embed_dim, eps=norm_eps)

    grad_checkpoint = False
    """Recompute each block's activations in the backward pass (``train.grad_checkpoint``; set by the engine)."""

    def forward(self, x: Tensor, pad_mask: Tensor | None = None) -> Tensor:
        attn_mask = key_padding_to_attn_mask(pad_mask)
        for block in self.blocks:
            x = run_block(self, block, x, attn_mask)
        return self.norm(x)

    def forward_layers(self, x: Tensor, pad_mask: Tensor | None = None) -> list[Tensor]:
        """Every block's output (before the final norm): the layers a latent-target teacher averages."""
        attn_mask = key_padding_to_attn_mask(pad_mask)
        outs = []
        for block in self.blocks:
            x = block(x, attn_mask)
            outs.append(x)
        return outs
