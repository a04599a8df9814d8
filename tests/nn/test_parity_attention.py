"""Parity of our attention modules with ``torch.nn.MultiheadAttention`` given the same weights.

Ours run on ``F.scaled_dot_product_attention``; the reference is MultiheadAttention's own math path: it is
called in training mode with ``dropout=0`` (which rules out its fused fast path) and ``need_weights=True``
(which makes ``F.multi_head_attention_forward`` form the softmax(QK^T / sqrt(hd)) V product explicitly
instead of calling SDPA), so the two do not share a kernel.

Weights: MultiheadAttention packs q, k, v into ``in_proj_weight`` (3D, D) in that order, heads contiguous
inside each; our ``qkv`` Linear (self-attention) is laid out the same and is copied as is; the decoder's
cross-attention splits it into ``q`` (D, D) and ``kv`` (2D, D). Mask conventions differ and are part of what
is checked: SDPA's boolean mask is True = attend, MultiheadAttention's ``attn_mask`` / ``key_padding_mask``
are True = masked out.

Tolerance 1e-5 (float32; outputs are O(1), the two paths sum the same products in a different order).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from omnivec.nn.heads.decoder import CausalSelfAttention, CrossAttention
from omnivec.nn.layers.attention import Attention, key_padding_to_attn_mask

D, H, B, N = 64, 4, 3, 7
ATOL = 1e-5


def reference_mha(qkv: nn.Linear | tuple[nn.Linear, nn.Linear], proj: nn.Linear) -> nn.MultiheadAttention:
    mha = nn.MultiheadAttention(D, H, dropout=0.0, bias=True, batch_first=True)
    weight = qkv.weight if isinstance(qkv, nn.Linear) else torch.cat([qkv[0].weight, qkv[1].weight])
    bias = qkv.bias if isinstance(qkv, nn.Linear) else torch.cat([qkv[0].bias, qkv[1].bias])
    with torch.no_grad():
        mha.in_proj_weight.copy_(weight)
        mha.in_proj_bias.copy_(bias)
        mha.out_proj.weight.copy_(proj.weight)
        mha.out_proj.bias.copy_(proj.bias)
    return mha.train()  # training mode, dropout 0: the reference math path, never the fused fast path


def run_mha(mha: nn.MultiheadAttention, q: Tensor, kv: Tensor, **masks: Tensor) -> Tensor:
    out, weights = mha(q, kv, kv, need_weights=True, **masks)
    assert weights is not None
    return out


def right_padding(lengths: list[int], n: int) -> Tensor:
    return torch.arange(n)[None, :] >= torch.tensor(lengths)[:, None]  # (B, n) True = padding


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def with_random_biases(*layers: nn.Linear) -> None:
    with torch.no_grad():
        for layer in layers:
            layer.bias.normal_(std=0.5)


def test_self_attention_matches_mha() -> None:
    attn = Attention(D, H)
    with_random_biases(attn.qkv, attn.proj)
    x = torch.randn(B, N, D)
    ref = run_mha(reference_mha(attn.qkv, attn.proj), x, x)
    torch.testing.assert_close(attn(x), ref, rtol=0, atol=ATOL)


def test_self_attention_with_key_padding_matches_mha() -> None:
    attn = Attention(D, H)
    with_random_biases(attn.qkv, attn.proj)
    x = torch.randn(B, N, D)
    pad = right_padding([N, 4, 1], N)
    pad[0, 2] = True  # a hole in the middle, not only a padded tail
    ours = attn(x, key_padding_to_attn_mask(pad))
    ref = run_mha(reference_mha(attn.qkv, attn.proj), x, x, key_padding_mask=pad)
    # every query row is compared (padded queries too: both attend them to the valid keys)
    torch.testing.assert_close(ours, ref, rtol=0, atol=ATOL)
    # the mask matters: unmasked attention is far from the masked reference
    assert (attn(x) - ref).abs().max() > 1e-2


def test_causal_self_attention_matches_mha() -> None:
    """Both causal forms: ``Attention`` with an explicit True-is-attend lower triangle, and the decoder's
    ``CausalSelfAttention`` on SDPA's ``is_causal`` fast path."""
    x = torch.randn(B, N, D)
    causal_masked_out = torch.ones(N, N, dtype=torch.bool).triu(1)  # MultiheadAttention: True = masked

    attn = Attention(D, H)
    with_random_biases(attn.qkv, attn.proj)
    ref = run_mha(reference_mha(attn.qkv, attn.proj), x, x, attn_mask=causal_masked_out)
    torch.testing.assert_close(attn(x, ~causal_masked_out), ref, rtol=0, atol=ATOL)
    assert (attn(x) - ref).abs().max() > 1e-2

    dec = CausalSelfAttention(D, H)
    with_random_biases(dec.qkv, dec.proj)
    ref = run_mha(reference_mha(dec.qkv, dec.proj), x, x, attn_mask=causal_masked_out)
    torch.testing.assert_close(dec(x), ref, rtol=0, atol=ATOL)


def test_causal_self_attention_with_padding_matches_mha() -> None:
    """The decoder's padded-target mask, ``causal & ~pad | diagonal`` (as ``TextDecoder.forward`` builds it),
    against causal + key padding. Left padding plus a hole, so real tokens do have padded keys before them.
    Rows of real tokens are compared; padded rows differ by design (ours lets a padded query see itself so
    no row is empty; MultiheadAttention gives a fully masked row NaN)."""
    dec = CausalSelfAttention(D, H)
    with_random_biases(dec.qkv, dec.proj)
    x = torch.randn(B, N, D)
    pad = torch.arange(N)[None, :] < torch.tensor([0, 2, 5])[:, None]  # left padding
    pad[0, 3] = True
    causal = torch.ones(N, N, dtype=torch.bool).tril()
    ours = dec(x, (causal & ~pad[:, None, None, :]) | torch.eye(N, dtype=torch.bool))
    ref = run_mha(reference_mha(dec.qkv, dec.proj), x, x, attn_mask=~causal, key_padding_mask=pad)
    valid = ~pad
    torch.testing.assert_close(ours[valid], ref[valid], rtol=0, atol=ATOL)
    assert (dec(x)[valid] - ref[valid]).abs().max() > 1e-2  # without the padding mask: far off


@pytest.mark.parametrize("padded", [False, True])
def test_cross_attention_matches_mha(padded: bool) -> None:
    cross = CrossAttention(D, H)
    with_random_biases(cross.q, cross.kv, cross.proj)
    x, memory = torch.randn(B, 5, D), torch.randn(B, N, D)
    pad = right_padding([N, 3, 6], N) if padded else None
    ours = cross(x, memory, key_padding_to_attn_mask(pad))
    masks = {"key_padding_mask": pad} if pad is not None else {}
    ref = run_mha(reference_mha((cross.q, cross.kv), cross.proj), x, memory, **masks)
    torch.testing.assert_close(ours, ref, rtol=0, atol=ATOL)
    if pad is not None:
        assert (cross(x, memory, None) - ref).abs().max() > 1e-2  # the mask matters
