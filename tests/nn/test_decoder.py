"""TextDecoder: causality, memory padding, gradients, tied output, and cached == full decoding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from omnivec.nn.heads.decoder import TextDecoder

V, D, N = 37, 32, 5


def make_decoder(**kw: object) -> TextDecoder:
    torch.manual_seed(0)
    args: dict = dict(vocab_size=V, embed_dim=D, depth=2, num_heads=4, mlp_ratio=2.0, max_length=16)
    args.update(kw)
    return TextDecoder(**args).eval()


def inputs(B: int = 3, T: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, V, (B, T), generator=g), torch.randn(B, N, D, generator=g)


def test_shapes_and_causality() -> None:
    dec = make_decoder()
    tokens, memory = inputs()
    logits = dec(tokens, memory)
    assert logits.shape == (3, 7, V)
    changed = tokens.clone()
    changed[:, 4] = (changed[:, 4] + 1) % V
    logits2 = dec(changed, memory)
    torch.testing.assert_close(logits2[:, :4], logits[:, :4])  # earlier positions do not see the future
    assert not torch.allclose(logits2[:, 4:], logits[:, 4:])


def test_memory_padding_is_ignored() -> None:
    dec = make_decoder()
    tokens, memory = inputs()
    pad = torch.zeros(3, N, dtype=torch.bool)
    pad[:, 3:] = True
    out = dec(tokens, memory, pad)
    garbage = memory.clone()
    garbage[:, 3:] = 1e3 * torch.randn(3, N - 3, D)
    torch.testing.assert_close(dec(tokens, garbage, pad), out)
    torch.testing.assert_close(dec(tokens, memory[:, :3]), out)  # == the memory without the padded slots
    assert not torch.allclose(dec(tokens, garbage), out)


def test_target_padding_matches_unpadded() -> None:
    dec = make_decoder()
    tokens, memory = inputs()
    pad = torch.zeros_like(tokens, dtype=torch.bool)
    pad[:, 5:] = True  # right padding: real positions see exactly what they see unpadded
    torch.testing.assert_close(dec(tokens, memory, tgt_pad_mask=pad)[:, :5], dec(tokens, memory)[:, :5])
    left = torch.zeros_like(pad)
    left[:, :2] = True
    assert torch.isfinite(dec(tokens, memory, tgt_pad_mask=left)).all()  # no empty attention rows


def test_backward_reaches_every_parameter() -> None:
    dec = make_decoder().train()
    tokens, memory = inputs()
    memory.requires_grad_(True)
    dec(tokens, memory).logsumexp(-1).mean().backward()
    for name, p in dec.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
        assert torch.isfinite(p.grad).all(), name
    assert memory.grad is not None and memory.grad.abs().sum() > 0


def test_output_projection_tied_to_shared_embedding() -> None:
    shared = nn.Embedding(V, D)
    before = shared.weight.detach().clone()
    dec = make_decoder(embedding=shared)
    assert dec.embed is shared
    torch.testing.assert_close(shared.weight.detach(), before)  # the encoder's init is kept
    with torch.no_grad():
        shared.weight[3] += 1.0  # one table: input embedding and output projection move together
    tokens, memory = inputs()
    h = dec.norm(torch.zeros(1, 1, D) + 1.0)
    torch.testing.assert_close(dec.logits(torch.ones(1, 1, D)), h @ shared.weight.T)
    assert dec(tokens, memory).shape == (3, 7, V)
    with pytest.raises(ValueError, match="shared embedding"):
        TextDecoder(V + 1, D, 1, 4, embedding=shared)


def test_cached_steps_match_teacher_forcing() -> None:
    dec = make_decoder()
    tokens, memory = inputs(T=9)
    pad = torch.zeros(3, N, dtype=torch.bool)
    pad[1, 2:] = True
    full = dec(tokens, memory, pad)
    with torch.no_grad():
        cache = dec.init_cache(memory, pad, max_len=12)
        prompt = dec.step(tokens[:, :3], cache)  # a 3-token prompt in one call
        steps = [dec.step(tokens[:, t : t + 1], cache) for t in range(3, 9)]
    torch.testing.assert_close(torch.cat([prompt, *steps], 1), full, atol=1e-5, rtol=1e-5)
    assert cache.pos == 9
    with pytest.raises(ValueError, match="cache holds"):
        dec.step(tokens[:, :4], cache)


def test_cache_reorder_follows_rows() -> None:
    dec = make_decoder()
    tokens, memory = inputs(B=2, T=4)
    memory = memory[:1].expand(2, N, D)  # beams of one sample share their memory
    with torch.no_grad():
        cache = dec.init_cache(memory, None, 8)
        dec.step(tokens[:, :3], cache)
        cache.reorder(torch.tensor([1, 1]))
        out = dec.step(tokens[:, 3:4], cache)
    swapped = torch.stack([tokens[1], tokens[1]])
    swapped[0, 3] = tokens[0, 3]
    torch.testing.assert_close(out[:, 0], dec(swapped, memory)[:, 3], atol=1e-5, rtol=1e-5)


def test_reused_transposed_weights_follow_weight_changes() -> None:
    """init_cache reuses its transposed weight copies across generations; any change to the weights (an
    in-place update as an optimizer makes, or load_state_dict) must be seen by the next cached decoding."""
    torch.manual_seed(0)
    dec = make_decoder().eval()
    tokens, memory = inputs(T=5)
    pad = torch.zeros(memory.shape[:2], dtype=torch.bool)
    pad[0, 3:] = True

    def cached_logits(d: TextDecoder) -> torch.Tensor:
        cache = d.init_cache(memory, pad, max_len=5)
        return torch.cat([d.step(tokens[:, i : i + 1], cache) for i in range(5)], dim=1)

    with torch.no_grad():
        first = cached_logits(dec)
        torch.testing.assert_close(cached_logits(dec), first)  # reused copies, same result
        dec.blocks[0].mlp.fc1.weight.mul_(1.5)  # in place, as an optimizer step
        torch.testing.assert_close(cached_logits(dec), dec(tokens, memory, pad), rtol=1e-4, atol=1e-4)
        other = make_decoder().eval()
        other.load_state_dict({k: v + 0.01 for k, v in dec.state_dict().items()})
        cached_logits(other)  # fill its copies, then load new weights over them
        other.load_state_dict(dec.state_dict())
        torch.testing.assert_close(cached_logits(other), cached_logits(dec))
