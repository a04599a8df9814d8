"""Cached greedy (or beam) decoding throughput: omnivec's TextDecoder against Hugging Face BART, in one run.

Both decoders have the same shape (width 256, 3 decoder layers, 4 heads, MLP 1024, the same vocabulary),
random weights, fp32 on CPU under no_grad. Encoder outputs are precomputed and handed to both, so only
decoding is timed; EOS stopping is disabled (min new tokens = max new tokens): both produce exactly as many
tokens.
The arithmetic limit is the per-step FLOPs divided by the fp32 matmul rate measured here with a large matmul.

    python bench/generate_throughput.py [--batch 16] [--new-tokens 32] [--vocab 8192] [--threads 1] [--beam 4]

``--beam K`` times beam search of K beams on both sides instead (no length penalty difference: both 1.0; tokens
counted as batch x new tokens, the output's, not the K x that were computed).

transformers is a benchmark-only extra (``pip install 'omnivec[bench]'``); nothing in omnivec imports it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from omnivec.nn.generation import beam_search, greedy
from omnivec.nn.heads.decoder import TextDecoder


def timed(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median seconds per call of each function, calls interleaved so changes in load hit all alike."""
    for fn in fns:
        fn()  # warmup
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / timed([lambda: a @ b], repeats)[0]


def step_flops(B: int, D: int, depth: int, mlp: int, V: int, N: int, t: int) -> float:
    """Multiply-adds ×2 of one decoding step at position t: projections, attention, MLP, output projection."""
    proj = 2 * B * D * (3 * D + D + D + D)  # self qkv + out, cross q + out (cross K/V is computed once)
    attn = 2 * 2 * B * D * (t + 1 + N)  # scores and weighted sum, self (t+1 keys) and cross (N keys)
    ffn = 2 * 2 * B * D * mlp
    return depth * (proj + attn + ffn) + 2 * B * D * V


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--memory-len", type=int, default=64, help="encoder tokens per sample")
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--beam", type=int, default=1, help="beams (1: greedy)")
    args = p.parse_args()

    from transformers import BartConfig, BartForConditionalGeneration
    from transformers.modeling_outputs import BaseModelOutput

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, T, N, V, D, depth, heads, mlp = (
        args.batch,
        args.new_tokens,
        args.memory_len,
        args.vocab,
        256,
        3,
        4,
        1024,
    )
    bos, eos, pad = 0, 2, 1

    ours = TextDecoder(V, D, depth, heads, mlp_ratio=mlp / D, max_length=T + 1).eval()
    cfg = BartConfig(
        vocab_size=V, d_model=D, encoder_layers=3, decoder_layers=depth, encoder_attention_heads=heads,
        decoder_attention_heads=heads, encoder_ffn_dim=mlp, decoder_ffn_dim=mlp,
        max_position_embeddings=T + 8, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad,
        decoder_start_token_id=bos, forced_eos_token_id=None, dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0,
    )  # fmt: skip
    hf = BartForConditionalGeneration(cfg).eval()
    memory = torch.randn(B, N, D)
    memory_pad = torch.zeros(B, N, dtype=torch.bool)
    memory_pad[: B // 2, N * 3 // 4 :] = True  # half the batch has padded memory, exercising the masks
    attention_mask = (~memory_pad).long()

    def run_ours() -> list[list[int]]:
        if args.beam > 1:
            return beam_search(ours, memory, memory_pad, bos, eos, beam_size=args.beam, max_len=T, min_len=T)
        return greedy(ours, memory, memory_pad, bos, eos, max_len=T, min_len=T)

    def run_hf() -> torch.Tensor:
        return hf.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=memory),
            attention_mask=attention_mask,
            decoder_input_ids=torch.full((B, 1), bos),
            max_new_tokens=T, min_new_tokens=T, do_sample=False, num_beams=args.beam, length_penalty=1.0,
        )  # fmt: skip

    with torch.no_grad():
        got_ours, got_hf = run_ours(), run_hf()
        assert all(len(s) == T for s in got_ours), "ours stopped early"
        assert got_hf.shape == (B, T + 1), f"HF produced {tuple(got_hf.shape)}"
        t_ours, t_hf = timed([run_ours, run_hf], args.repeats)
        peak = matmul_peak()

    tokens = B * T
    flops = sum(step_flops(B * args.beam, D, depth, mlp, V, N, t) for t in range(T))  # every beam is a row
    limit = flops / peak
    print(f"batch {B}, {T} new tokens, memory {N}, vocab {V}, width {D}, {depth} layers, {heads} heads, "
          f"fp32, {args.threads} thread(s), torch {torch.__version__}")  # fmt: skip
    how = "greedy" if args.beam == 1 else f"beam {args.beam}"
    print(f"decoding                   : {how}")
    print(f"omnivec TextDecoder        : {tokens / t_ours:10.0f} tokens/s  ({t_ours * 1e3:.1f} ms)")
    print(f"HF BART generate           : {tokens / t_hf:10.0f} tokens/s  ({t_hf * 1e3:.1f} ms)")
    print(f"ours / HF                  : {t_hf / t_ours:10.2f}x")
    print(f"fp32 matmul peak           : {peak / 1e9:10.1f} GFLOP/s;  decode {flops / 1e9:.3f} GFLOP")
    print(
        f"arithmetic limit           : {tokens / limit:10.0f} tokens/s  "
        f"-> we are {t_ours / limit:.1f}x from the arithmetic limit"
    )


if __name__ == "__main__":
    main()
