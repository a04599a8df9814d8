"""Greedy and beam search: cached decoding == recomputing everything, beam 1 == greedy, constraints hold."""

from __future__ import annotations

import torch

from omnivec.nn.generation import (
    _banned_ngrams,
    allowed_mask,
    beam_search,
    beam_search_hypotheses,
    greedy,
)
from omnivec.nn.heads.decoder import TextDecoder

V, D, N, BOS, EOS = 23, 32, 6, 0, 1


def setup(B: int = 4, seed: int = 0) -> tuple[TextDecoder, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    dec = TextDecoder(V, D, depth=2, num_heads=4, mlp_ratio=2.0, max_length=24).eval()
    with torch.no_grad():  # a sharper random model, so eos and repetitions actually happen
        dec.embed.weight.mul_(40.0)
    memory = torch.randn(B, N, D)
    pad = torch.zeros(B, N, dtype=torch.bool)
    pad[0, 4:] = True
    return dec, memory, pad


@torch.no_grad()
def greedy_by_recomputing(dec: TextDecoder, memory, pad, max_len: int) -> list[list[int]]:
    out = []
    for b in range(memory.shape[0]):
        seq = [BOS]
        for _ in range(max_len):
            nxt = int(dec(torch.tensor([seq]), memory[b : b + 1], pad[b : b + 1])[0, -1].argmax())
            if nxt == EOS:
                break
            seq.append(nxt)
        out.append(seq[1:])
    return out


def test_cached_greedy_equals_full_recompute() -> None:
    dec, memory, pad = setup(B=6)
    got = greedy(dec, memory, pad, BOS, EOS, max_len=20)
    assert got == greedy_by_recomputing(dec, memory, pad, 20)
    assert any(len(s) < 20 for s in got) and all(EOS not in s for s in got)


def test_beam_one_equals_greedy() -> None:
    dec, memory, pad = setup(B=6)
    assert beam_search(dec, memory, pad, BOS, EOS, beam_size=1, max_len=20) == greedy(
        dec, memory, pad, BOS, EOS, max_len=20
    )


def test_min_len_and_allowed_tokens() -> None:
    dec, memory, pad = setup()
    for seq in greedy(dec, memory, pad, BOS, EOS, max_len=12, min_len=12):
        assert len(seq) == 12
    bins = list(range(10, 20))
    mask = allowed_mask(bins, V)
    for fn in (greedy, beam_search):
        for seq in fn(dec, memory, pad, BOS, EOS, max_len=4, allowed_tokens=mask):  # type: ignore[operator]
            assert len(seq) == 4 and all(t in bins for t in seq)


def test_beam_hypotheses_sorted_and_better_than_greedy() -> None:
    dec, memory, pad = setup(B=5, seed=3)
    hyps = beam_search_hypotheses(dec, memory, pad, BOS, EOS, beam_size=4, max_len=10, length_penalty=0.0)
    greedy_seqs = greedy(dec, memory, pad, BOS, EOS, max_len=10)
    for b, hs in enumerate(hyps):
        assert len(hs) == 4
        scores = [h.score for h in hs]
        assert scores == sorted(scores, reverse=True)
        # with no length penalty the score is the sequence log-probability; beam never loses to greedy
        assert hs[0].score >= sequence_logprob(dec, memory[b], pad[b], greedy_seqs[b], 10) - 1e-4
        for h in hs:
            expected = sequence_logprob(dec, memory[b], pad[b], h.tokens, 10)
            assert abs(h.score - expected) < 1e-3


@torch.no_grad()
def sequence_logprob(dec: TextDecoder, memory, pad, tokens: list[int], max_len: int) -> float:
    target = tokens + ([EOS] if len(tokens) < max_len else [])
    logp = dec(torch.tensor([[BOS, *target[:-1]]]), memory[None], pad[None])[0].log_softmax(-1)
    return float(logp[torch.arange(len(target)), torch.tensor(target)].sum())


def has_repeated_ngram(seq: list[int], n: int) -> bool:
    grams = [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]
    return len(grams) != len(set(grams))


def test_no_repeat_ngram() -> None:
    dec, memory, pad = setup(B=6, seed=1)
    with torch.no_grad():  # a model that loves one token: without blocking it repeats itself
        dec.embed.weight[7] *= 3.0
    plain = beam_search(dec, memory, pad, BOS, EOS, beam_size=3, max_len=15, min_len=15)
    assert any(has_repeated_ngram(s, 2) for s in plain)
    blocked = beam_search(dec, memory, pad, BOS, EOS, 3, max_len=15, min_len=15, no_repeat_ngram_size=2)
    assert not any(has_repeated_ngram(s, 2) for s in blocked)
    assert all(len(s) == 15 for s in blocked)


def test_banned_ngrams_by_hand() -> None:
    history = torch.tensor([[5, 6, 5, 7, 5], [1, 2, 3, 4, 5]])
    banned = _banned_ngrams(history, 2, 10)
    assert banned[0].nonzero().flatten().tolist() == [6, 7]  # "5 6" and "5 7" seen; row ends in 5
    assert not banned[1].any()
    assert _banned_ngrams(history, 1, 10)[1].nonzero().flatten().tolist() == [1, 2, 3, 4, 5]


def test_greedy_respects_no_repeat_ngram() -> None:
    """The ban holds in greedy decoding too (it held only in beam search), and greedy with the ban is still beam
    search of width 1 with it."""
    dec, memory, pad = setup(B=6, seed=1)
    with torch.no_grad():  # a model that loves one token: without blocking it repeats itself
        dec.embed.weight[7] *= 3.0
    plain = greedy(dec, memory, pad, BOS, EOS, max_len=15, min_len=15)
    assert any(has_repeated_ngram(s, 3) for s in plain)
    blocked = greedy(dec, memory, pad, BOS, EOS, max_len=15, min_len=15, no_repeat_ngram_size=3)
    assert not any(has_repeated_ngram(s, 3) for s in blocked) and all(len(s) == 15 for s in blocked)
    assert blocked == beam_search(dec, memory, pad, BOS, EOS, 1, 15, 15, no_repeat_ngram_size=3)
    # the first tokens before any repeat are the unconstrained ones
    assert all(b[:3] == p[:3] for b, p in zip(blocked, plain))
