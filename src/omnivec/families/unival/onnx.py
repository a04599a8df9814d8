"""ONNX export of UnIVAL's encoder-decoder for greedy decoding: two graphs and a decoding loop outside them.

    encoder.onnx       prompt_ids (B, Lp), prompt_lengths (B,) [, the task's input: images / clips / waveforms
                       (+ lengths)] --encoders + trunk--> memory --every decoder layer's cross-attention projection-->
                       cross_k, cross_v (L, B, nh, N, hd), memory_mask (B, N) additive (0 attend, -inf padding)
    decoder_step.onnx  token (B, 1), past_k, past_v (L, B, nh, t, hd), cross_k, cross_v, memory_mask
                       --> logits (B, V) of the next token, present_k, present_v (L, B, nh, t + 1, hd)

The memory is projected once per input (what the PyTorch decoder's cache does); each step feeds the token chosen
last and the keys/values so far, starting from an empty past (t = 0). :func:`onnx_greedy` is the loop -- the
task's constraints (eos not before ``min_len``, only the allowed ids, the n-gram ban) applied to the graph's logits
exactly as :func:`omnivec.nn.generation.greedy` applies them -- and needs only onnxruntime, NumPy and torch for the
ban. Tokenising the prompt, decoding the files and detokenising stay outside, as in PyTorch (``export.json`` names
the prompt, the special ids and the decoding settings; ``tokenizer.json`` is copied beside the graphs).

Nothing is written unless onnxruntime's first-step logits are within 1e-4 of PyTorch's and its greedy answers
equal PyTorch's on the task's first test samples.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.data.base import drop_skipped
from omnivec.errors import OmnivecError
from omnivec.nn.generation import allowed_mask, greedy_loop
from omnivec.types import EncoderInput

TOLERANCE = 1e-4


class EncoderGraph(nn.Module):
    """Prompt (+ the task's input) -> every decoder layer's projected memory and the memory's additive mask."""

    def __init__(self, model: Any, modality: str | None) -> None:
        super().__init__()
        self.model = model
        self.modality = modality

    def forward(
        self, prompt_ids: Tensor, prompt_lengths: Tensor, data: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        from omnivec.families.unival.model import Seq2SeqBatch

        modal = EncoderInput(data, lengths) if data is not None else None
        target = prompt_ids.new_zeros(prompt_ids.shape[0], 0)
        memory, pad = self.model.encode(
            self.modality, Seq2SeqBatch(EncoderInput(prompt_ids, prompt_lengths), modal, target)
        )
        ks, vs = zip(*(block.cross_attn.memory_kv(memory) for block in self.model.decoder.blocks))
        mask = memory.new_zeros(memory.shape[:2])
        if pad is not None:
            mask = mask.masked_fill(pad, float("-inf"))
        return torch.stack(ks), torch.stack(vs), mask


class DecoderStepGraph(nn.Module):
    """One decoding step on plain tensors: the decoder's blocks with the self-attention keys/values passed in and
    returned one position longer (the PyTorch cache fills a preallocated buffer in place instead)."""

    def __init__(self, decoder: Any) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(
        self, token: Tensor, past_k: Tensor, past_v: Tensor, cross_k: Tensor, cross_v: Tensor, memory_mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        d = self.decoder
        B, t = token.shape[0], past_k.shape[3]
        nh, D = d.num_heads, d.embed_dim
        x = d.embed_norm(d.embed(token) + d.pos_embed[t : t + 1])  # (B, 1, D)
        mask = memory_mask[:, None, None, :]
        present_k, present_v = [], []
        for i, block in enumerate(d.blocks):

            def self_attn(h: Tensor, i: int = i, block: Any = block) -> Tensor:
                q, k, v = block.self_attn._qkv(h)  # (B, nh, 1, hd)
                keys, values = torch.cat([past_k[i], k], 2), torch.cat([past_v[i], v], 2)
                present_k.append(keys)
                present_v.append(values)
                y = F.scaled_dot_product_attention(q, keys, values)  # one query sees every position so far
                return block.self_attn.proj(y.transpose(1, 2).reshape(B, 1, D))

            def cross_attn(h: Tensor, i: int = i, block: Any = block) -> Tensor:
                q = block.cross_attn.q(h).view(B, 1, nh, D // nh).transpose(1, 2)
                y = F.scaled_dot_product_attention(q, cross_k[i], cross_v[i], attn_mask=mask)
                return block.cross_attn.proj(y.transpose(1, 2).reshape(B, 1, D))

            x = block._residual(x, block.norm1, self_attn)
            x = block._residual(x, block.norm2, cross_attn)
            x = block._residual(x, block.norm3, block.mlp)
        return d.logits(x)[:, -1], torch.stack(present_k), torch.stack(present_v)


def onnx_greedy(
    encoder: Any,
    step: Any,
    feeds: dict[str, np.ndarray],
    settings: dict[str, Any],
) -> list[list[int]]:
    """Greedy answers (token ids without bos and eos) from the two onnxruntime sessions, under the task's decoding
    ``settings`` (``export.json``'s ``decoding``: bos, eos, max_len, min_len, no_repeat_ngram, allowed_ids)."""
    cross_k, cross_v, mask = encoder.run(None, feeds)
    L, B, nh, _, hd = cross_k.shape
    past = {"past_k": np.zeros((L, B, nh, 0, hd), np.float32), "past_v": np.zeros((L, B, nh, 0, hd), np.float32)}

    def next_logits(token: Tensor) -> Tensor:
        feeds_t = {"token": token.numpy(), **past, "cross_k": cross_k, "cross_v": cross_v, "memory_mask": mask}
        logits, past["past_k"], past["past_v"] = step.run(None, feeds_t)
        return torch.from_numpy(logits)

    allowed = None
    if settings.get("allowed_ids") is not None:
        allowed = allowed_mask(settings["allowed_ids"], int(step.get_outputs()[0].shape[-1]))
    return greedy_loop(
        next_logits, B, "cpu", settings["bos"], settings["eos"], settings["max_len"], settings["min_len"], allowed,
        settings["no_repeat_ngram"],
    )  # fmt: skip


def export_unival(run: str | Path, task: str, out: str | Path, samples: int = 4) -> dict[str, Any]:
    """Export ``task``'s greedy decoder of the UnIVAL run ``run`` into the folder ``out`` (``encoder.onnx``,
    ``decoder_step.onnx``, ``tokenizer.json``, ``export.json``) after checking it against PyTorch on the task's
    first ``samples`` test inputs; returns ``export.json``'s content."""
    from omnivec.api.export import _require_onnx, _trace_module
    from omnivec.api.load import load
    from omnivec.families.unival.tasks import get_seq2seq_task
    from omnivec.families.unival.train import build_data
    from omnivec.tasks.seq2seq import Decoding, seq2seq_kind
    from omnivec.training.checkpoint import atomic_folder

    ort = _require_onnx()
    model: Any = load(run, device="cpu")
    if getattr(model, "family", "") != "unival":
        raise OmnivecError(f"{run} is an {model.family} run: its ONNX export is the embedding path (--modality)")
    spec = get_seq2seq_task(task)
    cfg: Any = model.run_config
    if task not in cfg.tasks:
        raise OmnivecError(f"{run} was not trained on {task!r}; its tasks: {', '.join(cfg.tasks)}")
    train, test = build_data(cfg, [task])[task]
    pool = [test[i] for i in range(len(test))] + [train[i] for i in range(min(samples, len(train)))]  # type: ignore[arg-type]
    items, _ = drop_skipped(pool)  # (input, answer, references)
    raw = [item[0] for item in items][:samples]  # the test inputs first, then training ones
    if len(raw) < 2:
        raise OmnivecError(f"task {task!r}: need at least 2 readable inputs to trace and check the graphs")
    decoding = seq2seq_kind(spec.kind).decoding(model, Decoding(), spec.max_len)
    prompts, inputs = zip(*(spec.prompt_and_sample(x) for x in raw))
    batch = model.collate(spec.modality, prompts, inputs)
    model.eval()
    enc, step = EncoderGraph(model, spec.modality), DecoderStepGraph(model.decoder)
    enc_args: tuple[Tensor, ...] = (batch.prompt.data, batch.prompt.lengths)
    enc_names, enc_dyn = ["prompt_ids", "prompt_lengths"], [{0: "batch", 1: "prompt"}, {0: "batch"}]
    if batch.modal is not None:
        enc_args += (batch.modal.data,) if batch.modal.lengths is None else (batch.modal.data, batch.modal.lengths)
        enc_names += ["data"] if batch.modal.lengths is None else ["data", "lengths"]
        enc_dyn += [{0: "batch"}] if batch.modal.lengths is None else [{0: "batch", 1: "length"}, {0: "batch"}]
    with torch.no_grad():
        ck, cv, mask = enc(*enc_args)
        L, B, nh, _, hd = ck.shape
        t0 = 3  # traced with a past of 3 positions; the axis is dynamic (the loop starts at 0)
        past = torch.randn(L, B, nh, t0, hd) * 0.1
        token = torch.full((B, 1), model.tokenizer.bos_id, dtype=torch.long)
    step_args = (token, past, past.clone(), ck, cv, mask)
    step_names = ["token", "past_k", "past_v", "cross_k", "cross_v", "memory_mask"]
    kv = {1: "batch", 3: "past"}
    step_dyn = [{0: "batch"}, kv, kv, {1: "batch", 3: "memory"}, {1: "batch", 3: "memory"}, {0: "batch", 1: "memory"}]
    enc_prog = _trace_module(enc, enc_args, enc_names, ["cross_k", "cross_v", "memory_mask"], enc_dyn)
    step_prog = _trace_module(step, step_args, step_names, ["logits", "present_k", "present_v"], step_dyn)
    opts = ["CPUExecutionProvider"]
    enc_sess = ort.InferenceSession(enc_prog.model_proto.SerializeToString(), providers=opts)
    step_sess = ort.InferenceSession(step_prog.model_proto.SerializeToString(), providers=opts)
    feeds = {name: a.numpy() for name, a in zip(enc_names, enc_args)}
    tk = model.tokenizer
    settings = {
        "bos": tk.bos_id,
        "eos": tk.eos_id,
        "max_len": min(decoding.max_len or 20, model.decoder.max_length),
        "min_len": decoding.min_len,
        "no_repeat_ngram": decoding.no_repeat_ngram,
        "allowed_ids": list(decoding.allowed_ids) if decoding.allowed_ids is not None else None,
    }
    # the first step's logits, then whole greedy answers, against PyTorch
    with torch.no_grad():
        empty = torch.zeros(L, B, nh, 0, hd)
        want = step(token, empty, empty, ck, cv, mask)[0]
        cache = model.decoder.init_cache(*model.encode(spec.modality, batch), 1)
        want_cached = model.decoder.step(token, cache)[:, -1]
    got = enc_sess.run(None, feeds)
    first = step_sess.run(None, dict(zip(step_names, [token.numpy(), empty.numpy(), empty.numpy(), *got])))[0]
    diff = max(float(np.abs(first - want.numpy()).max()), float(np.abs(first - want_cached.numpy()).max()))
    answers = onnx_greedy(enc_sess, step_sess, feeds, settings)
    reference = model.generate_ids(spec.modality, batch, decoding)
    if not diff <= TOLERANCE or answers != reference:
        raise OmnivecError(
            f"the ONNX decoder differs from PyTorch (first-step logits by {diff:.2e}; greedy answers "
            f"{'equal' if answers == reference else 'differ'}); nothing was written"
        )
    info = {
        "task": task,
        "modality": spec.modality,
        "prompt": prompts[0] if len(set(prompts)) == 1 else None,
        "inputs": enc_names,
        "decoding": settings,
        "layers": L,
        "heads": nh,
        "head_dim": hd,
        "checked": {"samples": len(raw), "first_step_max_diff": diff, "answers": [model.decode(a) for a in answers]},
    }

    def write(folder: Path) -> None:
        enc_prog.save(folder / "encoder.onnx", external_data=False)
        step_prog.save(folder / "decoder_step.onnx", external_data=False)
        shutil.copyfile(Path(run) / "tokenizer.json", folder / "tokenizer.json")
        (folder / "export.json").write_text(json.dumps(info, indent=2) + "\n")

    atomic_folder(Path(out), write)
    return info


def load_graphs(folder: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """The two onnxruntime sessions of an exported folder and its ``export.json``."""
    import onnxruntime as ort

    folder = Path(folder)
    opts = ["CPUExecutionProvider"]
    enc = ort.InferenceSession(str(folder / "encoder.onnx"), providers=opts)
    step = ort.InferenceSession(str(folder / "decoder_step.onnx"), providers=opts)
    return enc, step, json.loads((folder / "export.json").read_text())


__all__ = ["DecoderStepGraph", "EncoderGraph", "export_unival", "load_graphs", "onnx_greedy"]
