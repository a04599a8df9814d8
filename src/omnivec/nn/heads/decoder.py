"""Text decoder for UnIVAL-style generation: every task answered in text (arXiv 2307.16184, section 3).

A pre-norm transformer decoder: each block runs causal self-attention over the tokens generated so far,
cross-attention to the encoder memory (B, N, D) and an MLP. Positions are learned, the output projection is
tied to the token embedding (which may be the text encoder's: encoder and decoder share one vocabulary).

Two ways in:
- ``forward(tokens, memory, memory_pad_mask)`` for teacher forcing: logits for every position at once.
- ``init_cache(...)`` then ``step(tokens, cache)`` for generation. The cache preallocates self-attention keys
  and values for ``max_len`` positions (no ``torch.cat`` per step) and computes the cross-attention keys and
  values from the memory once, since the memory does not change while decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.nn.layers.attention import DropPath, Mlp, init_weights, key_padding_to_attn_mask, run_block


@dataclass
class KVCache:
    """Keys and values of every layer for incremental decoding.

    ``self_k``/``self_v`` are preallocated for ``max_len`` positions and filled up to ``pos``; ``cross_k``/
    ``cross_v`` hold the projected memory, one tensor per layer. Keys are stored transposed, (hd, length), so
    a decoding step's query-key product reads them as a plain matrix (see :func:`attend_one`). Beam search
    reorders the rows with :meth:`reorder`.
    """

    self_k: Tensor  # (L, B, nh, hd, max_len): keys transposed
    self_v: Tensor  # (L, B, nh, max_len, hd)
    cross_k: list[Tensor]  # per layer (B, nh, hd, N): keys transposed
    cross_v: list[Tensor]  # per layer (B, nh, N, hd)
    memory_mask: Tensor | None  # (B, 1, 1, N) additive: 0 attend, -inf padding; None when nothing is padded
    out_weight: Tensor  # (D, V) the tied output projection, transposed
    weights_t: dict[nn.Linear, Tensor]  # each per-step nn.Linear's weight, transposed to (in, out)
    pos: int = 0

    def linear(self, layer: nn.Linear, x: Tensor) -> Tensor:
        """``layer(x)`` for an nn.Linear, its weight transposed once by ``init_cache``: for the few rows of a
        decoding step a GEMM on a contiguous (in, out) weight is ~1.3x faster on CPU than ``F.linear``'s."""
        B, T, _ = x.shape
        return torch.addmm(layer.bias, x.reshape(B * T, -1), self.weights_t[layer]).view(B, T, -1)

    @property
    def max_len(self) -> int:
        return self.self_v.shape[3]

    def reorder(self, index: Tensor) -> None:
        """Keep row ``index[i]`` as row ``i`` of the self-attention cache (beam search picking its parents).

        The cross-attention cache is not touched: beams only ever pick parents of the same sample, whose
        memory is the same.
        """
        p = self.pos
        self.self_k[..., :p] = self.self_k[:, index, ..., :p]
        self.self_v[:, :, :, :p] = self.self_v[:, index, :, :p]


def attend_one(q: Tensor, k_t: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """Attention for one query per row (a decoding step): q (B, nh, 1, hd), keys transposed k_t (B, nh, hd, L),
    values v (B, nh, L, hd), mask additive (B, 1, 1, L) or None. The caches hold keys this way so both products
    are batched matrix-vector products on plain (possibly length-sliced) matrices, nothing copied; on CPU
    this is faster per generated token than SDPA's flash kernel, whose tiling is built for many queries
    (bench/generate_throughput.py)."""
    B, nh, _, hd = q.shape
    L = v.shape[2]
    scores = torch.bmm(q.reshape(B * nh, 1, hd), k_t.flatten(0, 1)).mul_(hd**-0.5).view(B, nh, 1, L)
    if mask is not None:
        scores = scores + mask
    return torch.bmm(scores.softmax(-1).view(B * nh, 1, L), v.flatten(0, 1)).view(B, nh, 1, hd)


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def _qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        B, T, D = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.num_heads, D // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hd)
        return q, k, v

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        B, T, D = x.shape
        q, k, v = self._qkv(x)
        if attn_mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))

    def step(self, x: Tensor, cache: KVCache, layer: int, attn_mask: Tensor | None) -> Tensor:
        """Attend from the T new tokens at positions ``pos..pos+T-1`` to everything cached so far."""
        B, T, D = x.shape
        pos = cache.pos
        qkv = cache.linear(self.qkv, x).view(B, T, 3, self.num_heads, D // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hd)
        k_cache, v_cache = cache.self_k[layer], cache.self_v[layer]  # (B, nh, hd, max_len), (B, nh, max_len, hd)
        k_cache[..., pos : pos + T] = k.transpose(-1, -2)  # filled in place, no torch.cat
        v_cache[:, :, pos : pos + T] = v
        k_t, v_all = k_cache[..., : pos + T], v_cache[:, :, : pos + T]
        if T == 1:  # one new token may see every cached one, so it needs no mask at all
            y = attend_one(q, k_t, v_all)
        else:
            y = F.scaled_dot_product_attention(q, k_t.transpose(-1, -2), v_all, attn_mask)
        return cache.linear(self.proj, y.transpose(1, 2).reshape(B, T, D))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def memory_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        B, N, D = memory.shape
        kv = self.kv(memory).view(B, N, 2, self.num_heads, D // self.num_heads)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, N, hd)
        return k, v

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None) -> Tensor:
        B, T, D = x.shape
        k, v = self.memory_kv(memory)
        q = self.q(x).view(B, T, self.num_heads, D // self.num_heads).transpose(1, 2)  # (B, nh, T, hd)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=memory_mask)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))

    def step(self, x: Tensor, cache: KVCache, layer: int) -> Tensor:
        """Attend to the memory projected once by ``init_cache``."""
        B, T, D = x.shape
        q = cache.linear(self.q, x).view(B, T, self.num_heads, D // self.num_heads).transpose(1, 2)
        k_t, v = cache.cross_k[layer], cache.cross_v[layer]  # (B, nh, hd, N), (B, nh, N, hd)
        if T == 1:
            y = attend_one(q, k_t, v, cache.memory_mask)
        else:
            y = F.scaled_dot_product_attention(q, k_t.transpose(-1, -2), v, attn_mask=cache.memory_mask)
        return cache.linear(self.proj, y.transpose(1, 2).reshape(B, T, D))


class DecoderBlock(nn.Module):
    """Self-attention, cross-attention and MLP, each a residual branch; pre-norm by default, post-norm (BART:
    ``x -> norm(x + f(x))``) when ``post_norm``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        post_norm: bool = False,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.post_norm = post_norm
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.self_attn = CausalSelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.cross_attn = CrossAttention(dim, num_heads)
        self.norm3 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def _residual(self, x: Tensor, norm: nn.Module, branch: Callable[[Tensor], Tensor]) -> Tensor:
        if self.post_norm:
            return norm(x + self.drop_path(branch(x)))
        return x + self.drop_path(branch(norm(x)))

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None, self_mask: Tensor | None) -> Tensor:
        x = self._residual(x, self.norm1, lambda h: self.self_attn(h, self_mask))
        x = self._residual(x, self.norm2, lambda h: self.cross_attn(h, memory, memory_mask))
        return self._residual(x, self.norm3, self.mlp)

    def step(self, x: Tensor, cache: KVCache, layer: int, self_mask: Tensor | None) -> Tensor:
        x = self._residual(x, self.norm1, lambda h: self.self_attn.step(h, cache, layer, self_mask))
        x = self._residual(x, self.norm2, lambda h: self.cross_attn.step(h, cache, layer))
        # Mlp.forward, on the transposed weights
        return self._residual(
            x, self.norm3, lambda h: cache.linear(self.mlp.fc2, F.gelu(cache.linear(self.mlp.fc1, h)))
        )


class TextDecoder(nn.Module):
    """Tokens (B, T) + encoder memory (B, N, D) -> next-token logits (B, T, V)."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        max_length: int = 64,
        embedding: nn.Embedding | None = None,
        drop_path: float = 0.0,
        post_norm: bool = False,
        norm_eps: float = 1e-5,
        embed_norm: bool = False,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        if embedding is not None and tuple(embedding.weight.shape) != (vocab_size, embed_dim):
            raise ValueError(
                f"shared embedding has shape {tuple(embedding.weight.shape)}, expected ({vocab_size}, {embed_dim})"
            )
        self.vocab_size, self.embed_dim, self.num_heads = vocab_size, embed_dim, num_heads
        self.grad_checkpoint = False  # train.grad_checkpoint: blocks recomputed in the backward (set by the engine)
        self.depth, self.max_length = depth, max_length
        self.blocks = nn.ModuleList(
            DecoderBlock(embed_dim, num_heads, mlp_ratio, drop_path * i / max(depth - 1, 1), post_norm, norm_eps)
            for i in range(depth)
        )
        # a post-norm stack already ends in a norm (BART's decoder has no final one)
        self.norm: nn.Module = nn.Identity() if post_norm else nn.LayerNorm(embed_dim, eps=norm_eps)
        # BART's layernorm_embedding: token + position embeddings are normalised before the first block
        self.embed_norm: nn.Module = nn.LayerNorm(embed_dim, eps=norm_eps) if embed_norm else nn.Identity()
        init_weights(self.blocks)
        init_weights(self.norm)
        # a passed-in embedding keeps its values: it belongs to (and was initialised by) the text encoder
        self.embed = embedding if embedding is not None else nn.Embedding(vocab_size, embed_dim)
        if embedding is None:
            nn.init.normal_(self.embed.weight, std=0.02)
        self.pos_embed = nn.Parameter(torch.randn(max_length, embed_dim) * 0.02)  # (max_length, D)
        # (weight versions, out_weight, weights_t) of the last generation; see _transposed_weights
        self._transposed: tuple[tuple[tuple[int, int], ...], Tensor, dict[nn.Linear, Tensor]] | None = None

    def _blocks(self) -> list[DecoderBlock]:
        return cast(list[DecoderBlock], list(self.blocks))

    def logits(self, x: Tensor) -> Tensor:
        """Final norm and the output projection, tied to the token embedding."""
        return F.linear(self.norm(x), self.embed.weight)  # (B, T, V)

    def forward(
        self,
        tokens: Tensor,
        memory: Tensor,
        memory_pad_mask: Tensor | None = None,
        tgt_pad_mask: Tensor | None = None,
    ) -> Tensor:
        """Teacher forcing. tokens (B, T), memory (B, N, D), pad masks True = padding -> logits (B, T, V)."""
        T = tokens.shape[1]
        if self.max_length < T:
            raise ValueError(f"{T} tokens exceed the decoder's max_length {self.max_length}")
        x = self.embed_norm(self.embed(tokens) + self.pos_embed[:T])  # (B, T, D)
        self_mask = None  # None -> the is_causal fast path
        if tgt_pad_mask is not None:
            causal = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril()
            # a query always sees itself, so a fully padded prefix (left padding) gives no empty row (NaN)
            diagonal = torch.eye(T, dtype=torch.bool, device=x.device)
            self_mask = (causal & ~tgt_pad_mask[:, None, None, :]) | diagonal  # (B, 1, T, T)
        memory_mask = key_padding_to_attn_mask(memory_pad_mask)
        for block in self.blocks:
            x = run_block(self, block, x, memory, memory_mask, self_mask)
        return self.logits(x)

    # -------------------------------------------------------------------------------------- cached decoding

    @torch.no_grad()
    def init_cache(self, memory: Tensor, memory_pad_mask: Tensor | None, max_len: int, expand: int = 1) -> KVCache:
        """Project the memory for every layer once and preallocate ``max_len`` self-attention positions.

        ``expand`` repeats every sample that many times (beams), after the projection so it is paid once.
        """
        if max_len > self.max_length:
            raise ValueError(f"max_len {max_len} exceeds the decoder's max_length {self.max_length}")
        B = memory.shape[0]
        hd = self.embed_dim // self.num_heads
        cross_k, cross_v = [], []
        for block in self._blocks():
            k, v = block.cross_attn.memory_kv(memory)  # (B, nh, N, hd) each
            cross_k.append(k.transpose(-1, -2).contiguous())
            cross_v.append(v.contiguous())
        memory_mask = None
        if memory_pad_mask is not None:
            # an additive float mask, made once: SDPA runs faster with it than with a boolean one
            memory_mask = memory.new_zeros(memory_pad_mask.shape).masked_fill(memory_pad_mask, float("-inf"))
            memory_mask = memory_mask[:, None, None, :]  # (B, 1, 1, N)
        if expand > 1:
            cross_k = [k.repeat_interleave(expand, dim=0) for k in cross_k]
            cross_v = [v.repeat_interleave(expand, dim=0) for v in cross_v]
            if memory_mask is not None:
                memory_mask = memory_mask.repeat_interleave(expand, dim=0)
        self_k = memory.new_empty(self.depth, B * expand, self.num_heads, hd, max_len)
        self_v = memory.new_empty(self.depth, B * expand, self.num_heads, max_len, hd)
        out_weight, weights_t = self._transposed_weights()
        return KVCache(self_k, self_v, cross_k, cross_v, memory_mask, out_weight, weights_t, 0)

    def _transposed_weights(self) -> tuple[Tensor, dict[nn.Linear, Tensor]]:
        """(D, V) output weight and every per-step linear's weight as contiguous (in, out) copies (see
        KVCache.linear). Copying ~17 MB of weights costs about as much as 5 decoding steps, so the copies are
        kept and reused until a weight changes: an optimizer step or load bumps the tensor's version counter, a
        move to another device its address."""
        linears: list[nn.Linear] = []
        for b in self._blocks():
            linears += [b.self_attn.qkv, b.self_attn.proj, b.cross_attn.q, b.cross_attn.proj, b.mlp.fc1, b.mlp.fc2]
        weights = [self.embed.weight, *(m.weight for m in linears)]
        key = tuple((w.data_ptr(), w._version) for w in weights)
        if self._transposed is None or self._transposed[0] != key:
            out_weight = self.embed.weight.detach().t().contiguous()
            weights_t = {m: m.weight.detach().t().contiguous() for m in linears}
            self._transposed = (key, out_weight, weights_t)
        _, out_weight, weights_t = self._transposed
        return out_weight, weights_t

    def step(self, tokens: Tensor, cache: KVCache) -> Tensor:
        """Feed the next tokens (B, T) at positions ``cache.pos…`` -> logits (B, T, V); advances the cache."""
        T = tokens.shape[1]
        pos = cache.pos
        if pos + T > cache.max_len:
            raise ValueError(f"cache holds {cache.max_len} positions; cannot add {T} at position {pos}")
        x = self.embed_norm(self.embed(tokens) + self.pos_embed[pos : pos + T])  # (B, T, D)
        self_mask = None
        if T > 1:  # several new tokens (a prompt): new token i sees cached ones and new ones up to itself
            self_mask = torch.ones(T, pos + T, dtype=torch.bool, device=tokens.device).tril(diagonal=pos)
        for i, block in enumerate(self._blocks()):
            x = block.step(x, cache, i, self_mask)
        cache.pos = pos + T
        return self.norm(x) @ cache.out_weight  # (B, T, V)
