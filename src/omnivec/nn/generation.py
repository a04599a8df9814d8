"""Batched greedy and beam-search decoding over :class:`~omnivec.nn.heads.decoder.TextDecoder`'s KV cache.

Beam search follows fairseq's ``SequenceGenerator`` as UnIVAL uses it (beam 5, max length 22,
no-repeat-ngram 3 for captioning): each step keeps the ``2·beam`` best continuations, a continuation ending in
``eos`` among the top ``beam`` becomes a finished hypothesis scored ``sum log p / length ** length_penalty``,
and a sample is done once it holds ``beam`` finished hypotheses. Beams still open at ``max_len`` are finished
as they are.

Constrained decoding: ``allowed_tokens`` is a boolean mask (V,) or (B, V) of the tokens that may be produced,
e.g. only the ``<bin_i>`` location tokens for grounding (with ``max_len=4``). ``eos`` is never produced before
``min_len`` tokens. ``no_repeat_ngram_size`` n bans, in greedy decoding as in beam search, every token that
would complete an n-gram the answer already holds (fairseq's ``NGramRepeatBlock``; UnIVAL decodes with n = 3).
Results are token-id lists per sample without bos and eos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from omnivec.nn.heads.decoder import TextDecoder


@dataclass
class Hypothesis:
    tokens: list[int]
    """Generated tokens, without bos and eos."""
    score: float
    """Sum of token log-probabilities (eos included) divided by length ** length_penalty."""


def allowed_mask(token_ids: Iterable[int], vocab_size: int, device: torch.device | str = "cpu") -> Tensor:
    """Boolean mask (V,) that is True exactly at ``token_ids``: the ``allowed_tokens`` argument."""
    mask = torch.zeros(vocab_size, dtype=torch.bool, device=device)
    mask[torch.as_tensor(list(token_ids), dtype=torch.long, device=device)] = True
    return mask


def _check(decoder: TextDecoder, max_len: int) -> None:
    # positions 0..max_len-1 are fed (bos + all but the last generated token)
    if max_len < 1 or max_len > decoder.max_length:
        raise ValueError(f"max_len must be in 1..{decoder.max_length} (the decoder's max_length), got {max_len}")


def _constrain(logits: Tensor, step: int, eos: int, min_len: int, allowed: Tensor | None) -> Tensor:
    """Mask forbidden tokens in place to -inf: anything outside ``allowed``, and eos before ``min_len``."""
    if allowed is not None:
        logits.masked_fill_(~allowed, float("-inf"))
    if step < min_len and 0 <= eos < logits.shape[-1]:
        logits[:, eos] = float("-inf")
    return logits


@torch.no_grad()
def greedy(
    decoder: TextDecoder,
    memory: Tensor,
    memory_pad_mask: Tensor | None,
    bos: int,
    eos: int,
    max_len: int,
    min_len: int = 0,
    allowed_tokens: Tensor | None = None,
    no_repeat_ngram_size: int = 0,
) -> list[list[int]]:
    """Most likely token at every step (never one completing an n-gram already generated, n =
    ``no_repeat_ngram_size``; 0: no ban). memory (B, N, D) -> B lists of at most ``max_len`` token ids."""
    _check(decoder, max_len)
    cache = decoder.init_cache(memory, memory_pad_mask, max_len)
    return greedy_loop(
        lambda token: decoder.step(token, cache)[:, -1],
        memory.shape[0], memory.device, bos, eos, max_len, min_len, allowed_tokens, no_repeat_ngram_size,
    )  # fmt: skip


def greedy_loop(
    next_logits: Callable[[Tensor], Tensor],
    batch: int,
    device: torch.device | str,
    bos: int,
    eos: int,
    max_len: int,
    min_len: int = 0,
    allowed_tokens: Tensor | None = None,
    no_repeat_ngram_size: int = 0,
) -> list[list[int]]:
    """The greedy choice of :func:`greedy` over any source of next-token logits: ``next_logits(token (B, 1))``
    feeds the last chosen token and returns the next (B, V) logits (the PyTorch cache here, onnxruntime's
    decoder step in families/unival/onnx.py), so both decode under the same constraints."""
    B = batch
    out = torch.empty(B, max_len, dtype=torch.long, device=device)  # (B, max_len)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    token = torch.full((B, 1), bos, dtype=torch.long, device=device)
    length = max_len
    for t in range(max_len):
        logits = next_logits(token)  # (B, V)
        if allowed_tokens is not None or t < min_len:
            _constrain(logits, t, eos, min_len, allowed_tokens)
        if no_repeat_ngram_size > 0 and t >= no_repeat_ngram_size:
            logits.masked_fill_(_banned_ngrams(out[:, :t], no_repeat_ngram_size, logits.shape[-1]), float("-inf"))
        token = logits.max(-1, keepdim=True).indices  # (B, 1); max is faster than argmax on CPU
        out[:, t : t + 1] = token
        # checking for the end costs a host sync per step; only worth it once eos can appear
        if t >= min_len:
            finished |= token[:, 0] == eos
            if bool(finished.all()):
                length = t + 1
                break
    return [_strip(row, eos) for row in out[:, :length].tolist()]


def _strip(tokens: list[int], eos: int) -> list[int]:
    return tokens[: tokens.index(eos)] if eos in tokens else tokens


def _banned_ngrams(history: Tensor, n: int, vocab_size: int) -> Tensor:
    """history (R, t) -> mask (R, V) of tokens that would repeat an n-gram already in the row."""
    R, t = history.shape
    banned = torch.zeros(R, vocab_size + 1, dtype=torch.bool, device=history.device)
    if n <= 0 or t < n:
        return banned[:, :vocab_size]
    grams = history.unfold(1, n, 1)  # (R, t-n+1, n)
    if n == 1:
        match = torch.ones(grams.shape[:2], dtype=torch.bool, device=history.device)
    else:
        match = (grams[:, :, :-1] == history[:, None, t - n + 1 :]).all(-1)  # (R, t-n+1)
    # non-matching n-grams scatter into the spare column V, which is dropped
    idx = torch.where(match, grams[:, :, -1], torch.full_like(grams[:, :, -1], vocab_size))
    banned.scatter_(1, idx, True)
    return banned[:, :vocab_size]


@torch.no_grad()
def beam_search_hypotheses(
    decoder: TextDecoder,
    memory: Tensor,
    memory_pad_mask: Tensor | None,
    bos: int,
    eos: int,
    beam_size: int = 5,
    max_len: int = 22,
    min_len: int = 0,
    length_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    allowed_tokens: Tensor | None = None,
) -> list[list[Hypothesis]]:
    """Beam search. memory (B, N, D) -> per sample, ``beam_size`` hypotheses sorted best first."""
    _check(decoder, max_len)
    B, K, V = memory.shape[0], beam_size, decoder.vocab_size
    device = memory.device
    cache = decoder.init_cache(memory, memory_pad_mask, max_len, expand=K)
    if allowed_tokens is not None and allowed_tokens.ndim == 2:
        allowed_tokens = allowed_tokens.repeat_interleave(K, dim=0)  # (B*K, V)
    # only beam 0 is live at the start, so the K copies of bos do not produce K identical beams
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0
    history = torch.empty(B * K, 0, dtype=torch.long, device=device)  # (B*K, t)
    token = torch.full((B * K, 1), bos, dtype=torch.long, device=device)
    batch_offset = (torch.arange(B, device=device) * K)[:, None]  # (B, 1)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B

    for t in range(max_len):
        logp = decoder.step(token, cache)[:, -1].float().log_softmax(-1)  # (B*K, V)
        _constrain(logp, t, eos, min_len, allowed_tokens)
        if no_repeat_ngram_size > 0:
            logp.masked_fill_(_banned_ngrams(history, no_repeat_ngram_size, V), float("-inf"))
        cand = (scores[:, :, None] + logp.view(B, K, V)).view(B, K * V)
        top_scores, top_idx = cand.topk(min(2 * K, K * V), dim=1)  # (B, 2K), sorted best first
        top_beam, top_token = top_idx // V, top_idx % V

        # continuations that end in eos and rank among the best K become finished hypotheses; at the last
        # step every one of the best K does (fairseq forces eos there; we keep the token instead, so a
        # constrained search such as four location bins may use all max_len steps)
        last = t + 1 == max_len
        ends = torch.ones_like(top_token, dtype=torch.bool) if last else top_token == eos
        ends[:, K:] = False
        ends &= torch.isfinite(top_scores)
        norm = float(t + 1) ** length_penalty  # tokens generated so far, eos included
        for b, j in ends.nonzero().tolist():
            if done[b]:
                continue
            tokens = history[int(batch_offset[b, 0]) + int(top_beam[b, j])].tolist()
            if int(top_token[b, j]) != eos:
                tokens.append(int(top_token[b, j]))
            finished[b].append(Hypothesis(tokens, float(top_scores[b, j]) / norm))
        for b in range(B):
            done[b] = done[b] or len(finished[b]) >= K
        if last or all(done):
            break

        # the best K continuations that did not end in eos carry on (stable sort keeps the topk order)
        keep_scores = top_scores.masked_fill(top_token == eos, float("-inf"))
        keep = keep_scores.argsort(dim=1, descending=True, stable=True)[:, :K]  # (B, K)
        scores = keep_scores.gather(1, keep)
        parent = (batch_offset + top_beam.gather(1, keep)).view(-1)  # (B*K,) rows of the cache
        token = top_token.gather(1, keep).view(-1, 1)  # (B*K, 1)
        cache.reorder(parent)
        history = torch.cat([history[parent], token], dim=1)

    return [sorted(h, key=lambda h: -h.score)[:K] for h in finished]


def beam_search(
    decoder: TextDecoder,
    memory: Tensor,
    memory_pad_mask: Tensor | None,
    bos: int,
    eos: int,
    beam_size: int = 5,
    max_len: int = 22,
    min_len: int = 0,
    length_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    allowed_tokens: Tensor | None = None,
) -> list[list[int]]:
    """The best hypothesis of :func:`beam_search_hypotheses` per sample (empty list if none survived)."""
    hyps = beam_search_hypotheses(
        decoder, memory, memory_pad_mask, bos, eos, beam_size, max_len, min_len,
        length_penalty, no_repeat_ngram_size, allowed_tokens,
    )  # fmt: skip
    return [h[0].tokens if h else [] for h in hyps]
