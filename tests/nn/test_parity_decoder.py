"""Parity of the UnIVAL text decoder (:class:`omnivec.nn.heads.decoder.TextDecoder`) with Hugging Face BART-family
decoders built here with random weights (nothing is downloaded).

Ours, block by block: x = embed(tokens) + pos[t] (learned positions, no embedding scale, no embedding
LayerNorm); each block is pre-norm: x += SelfAttn(LN1(x)) causal, x += CrossAttn(LN2(x), memory),
x += fc2(gelu(fc1(LN3(x)))), exact (erf) GELU, LayerNorm eps 1e-5, every Linear with a bias; then a final
LayerNorm and logits = x @ embed^T (tied, no bias).

- **Blenderbot** (``BlenderbotForCausalLM``) is that architecture exactly: pre-norm layers
  (``self_attn_layer_norm``, ``encoder_attn_layer_norm``, ``final_layer_norm``), a final ``layer_norm``,
  learned positions without offset, ``embed_scale`` 1 with ``scale_embedding=False`` (its default), GELU, no
  embedding LayerNorm, ``lm_head`` tied to ``embed_tokens`` and without a bias. It is the end-to-end
  reference: logits, padded and unpadded, and our cached decoding (``init_cache``/``step``).
- **MBart** (``MBartForCausalLM``), the pre-LayerNorm BART, differs in one place: a ``layernorm_embedding``
  applied to embed + positions before the first layer. Ours has none (UnIVAL's decoder as implemented here
  does not), so MBart is compared with that one LayerNorm inserted in front of our first block by a forward
  pre-hook; everything else (its positions with the BART offset of 2: position t reads row t + 2, the
  layers, the final ``layer_norm``, the tied head) goes through our code unchanged. The test also checks that
  without the hook the logits do differ, i.e. the difference is real. ``scale_embedding`` must be False
  (MBart's config default; the released mBART checkpoints set it True, multiplying token embeddings by
  sqrt(d_model): ours has no such scale, and since the embedding is tied to the output projection the
  converter cannot fold it into the weights — an importer of those checkpoints needs an option for it).

The weight converter below (HF decoder state dict -> ours) concatenates q/k/v into our fused ``qkv`` and
k/v into the cross-attention ``kv``, and slices the position table at the model's offset.

The reference runs HF's ``eager`` attention (explicit softmax, not SDPA), float32. Tolerance 1e-4 absolute on
logits of standard deviation ~5 (maximum ~20): two blocks of float32 arithmetic summed in a different order
(observed ~5e-6); a wrong mask, position row, norm or activation moves them by >1e-2.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from omnivec.nn.heads.decoder import TextDecoder

transformers = pytest.importorskip("transformers")

V, D, DEPTH, HEADS, MAX_LEN = 97, 64, 2, 4, 24
B, T, N = 3, 9, 11
ATOL = 1e-4


def hf_config(cls: Any) -> Any:
    return cls(
        vocab_size=V,
        d_model=D,
        decoder_layers=DEPTH,
        decoder_attention_heads=HEADS,
        decoder_ffn_dim=4 * D,
        encoder_layers=1,
        encoder_attention_heads=HEADS,
        encoder_ffn_dim=4 * D,
        max_position_embeddings=MAX_LEN,
        activation_function="gelu",
        scale_embedding=False,
        tie_word_embeddings=True,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        attn_implementation="eager",
    )


@torch.no_grad()
def randomise(model: nn.Module) -> None:
    """Weights far from HF's init (std 0.02, unit norms, zero biases), so every parameter moves the logits."""
    g = torch.Generator().manual_seed(0)
    for name, p in model.named_parameters():
        if "norm" in name:
            p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn(p.shape, generator=g))
        elif "embed" in name:
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
        else:
            p.copy_(0.1 * torch.randn(p.shape, generator=g))


def hf_model(cls_name: str) -> Any:
    config_cls = getattr(transformers, cls_name.replace("ForCausalLM", "Config"))
    model = getattr(transformers, cls_name)(hf_config(config_cls)).eval()
    randomise(model)
    assert model.lm_head.weight is model.model.decoder.embed_tokens.weight  # tied, as ours
    decoder = model.model.decoder
    assert float(getattr(decoder.embed_tokens, "embed_scale", getattr(decoder, "embed_scale", 1.0))) == 1.0
    return model


def convert_decoder(hf_decoder: nn.Module, max_length: int) -> dict[str, Tensor]:
    """A BART-family decoder's state dict -> TextDecoder's."""
    sd = hf_decoder.state_dict()
    offset = getattr(hf_decoder.embed_positions, "offset", 0)  # BART/MBart: 2, Blenderbot: none

    def linear(dst: str, *src: str) -> dict[str, Tensor]:
        return {
            f"{dst}.weight": torch.cat([sd[f"{s}.weight"] for s in src]),
            f"{dst}.bias": torch.cat([sd[f"{s}.bias"] for s in src]),
        }

    out: dict[str, Tensor] = {
        "embed.weight": sd["embed_tokens.weight"],
        "pos_embed": sd["embed_positions.weight"][offset : offset + max_length],
        **linear("norm", "layer_norm"),
    }
    for i in range(len(hf_decoder.layers)):
        hf, ours = f"layers.{i}", f"blocks.{i}"
        out |= linear(f"{ours}.norm1", f"{hf}.self_attn_layer_norm")
        out |= linear(f"{ours}.self_attn.qkv", *(f"{hf}.self_attn.{p}_proj" for p in "qkv"))
        out |= linear(f"{ours}.self_attn.proj", f"{hf}.self_attn.out_proj")
        out |= linear(f"{ours}.norm2", f"{hf}.encoder_attn_layer_norm")
        out |= linear(f"{ours}.cross_attn.q", f"{hf}.encoder_attn.q_proj")
        out |= linear(f"{ours}.cross_attn.kv", f"{hf}.encoder_attn.k_proj", f"{hf}.encoder_attn.v_proj")
        out |= linear(f"{ours}.cross_attn.proj", f"{hf}.encoder_attn.out_proj")
        out |= linear(f"{ours}.norm3", f"{hf}.final_layer_norm")
        out |= linear(f"{ours}.mlp.fc1", f"{hf}.fc1")
        out |= linear(f"{ours}.mlp.fc2", f"{hf}.fc2")
    return out


def our_decoder(hf: Any) -> TextDecoder:
    dec = TextDecoder(V, D, DEPTH, HEADS, mlp_ratio=4.0, max_length=MAX_LEN).eval()
    dec.load_state_dict(convert_decoder(hf.model.decoder, MAX_LEN), strict=True)
    return dec


def inputs() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Tokens (B, T), memory (B, N, D), and right-padding masks (True = padding) for both."""
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(3, V, (B, T), generator=g)
    memory = torch.randn(B, N, D, generator=g)
    tgt_pad = torch.arange(T)[None, :] >= torch.tensor([T, 6, 3])[:, None]
    mem_pad = torch.arange(N)[None, :] >= torch.tensor([N, 7, 2])[:, None]
    return tokens, memory, tgt_pad, mem_pad


def hf_logits(hf: Any, tokens: Tensor, memory: Tensor, tgt_pad: Tensor | None, mem_pad: Tensor | None) -> Tensor:
    with torch.no_grad():
        out = hf(
            input_ids=tokens,
            attention_mask=None if tgt_pad is None else (~tgt_pad).long(),
            encoder_hidden_states=memory,
            encoder_attention_mask=None if mem_pad is None else (~mem_pad).long(),
            use_cache=False,
        )
    return out.logits


@pytest.mark.parametrize("padded", [False, True])
def test_text_decoder_matches_blenderbot(padded: bool) -> None:
    hf = hf_model("BlenderbotForCausalLM")
    dec = our_decoder(hf)
    tokens, memory, tgt_pad, mem_pad = inputs()
    if not padded:
        tgt_pad, mem_pad = torch.zeros_like(tgt_pad), torch.zeros_like(mem_pad)
    ref = hf_logits(hf, tokens, memory, tgt_pad if padded else None, mem_pad if padded else None)
    with torch.no_grad():
        ours = dec(tokens, memory, mem_pad if padded else None, tgt_pad if padded else None)
    assert ref.abs().max() > 1.0  # real logits
    valid = ~tgt_pad  # padded target rows are not outputs (and HF and ours treat them differently)
    torch.testing.assert_close(ours[valid], ref[valid], rtol=0, atol=ATOL)
    if padded:  # the memory mask matters here: ignoring it moves the logits
        with torch.no_grad():
            unmasked = dec(tokens, memory, None, tgt_pad)
        assert (unmasked[valid] - ref[valid]).abs().max() > 1e-2


def test_cached_decoding_matches_blenderbot() -> None:
    """``init_cache`` + ``step``, a multi-token prompt then one token at a time (the two attention paths of a
    step), against the reference's teacher-forced logits."""
    hf = hf_model("BlenderbotForCausalLM")
    dec = our_decoder(hf)
    tokens, memory, _, mem_pad = inputs()
    ref = hf_logits(hf, tokens, memory, None, mem_pad)
    with torch.no_grad():
        cache = dec.init_cache(memory, mem_pad, max_len=T)
        steps = [dec.step(tokens[:, :4], cache)] + [dec.step(tokens[:, t : t + 1], cache) for t in range(4, T)]
    torch.testing.assert_close(torch.cat(steps, dim=1), ref, rtol=0, atol=ATOL)


def test_text_decoder_matches_mbart_given_its_embedding_layernorm() -> None:
    hf = hf_model("MBartForCausalLM")
    assert hf.model.decoder.embed_positions.offset == 2
    dec = our_decoder(hf)
    tokens, memory, tgt_pad, mem_pad = inputs()
    ref = hf_logits(hf, tokens, memory, tgt_pad, mem_pad)
    valid = ~tgt_pad
    with torch.no_grad():
        without = dec(tokens, memory, mem_pad, tgt_pad)
        ln_embed = hf.model.decoder.layernorm_embedding
        hook = dec.blocks[0].register_forward_pre_hook(lambda _m, args: (ln_embed(args[0]), *args[1:]))
        try:
            ours = dec(tokens, memory, mem_pad, tgt_pad)
        finally:
            hook.remove()
    torch.testing.assert_close(ours[valid], ref[valid], rtol=0, atol=ATOL)
    assert (without[valid] - ref[valid]).abs().max() > 1e-1  # the one architectural difference is real
