"""The UnIVAL encoder-decoder (arXiv 2307.16184 §3): every task is text in, text out.

    prompt text --text encoder--> (B, Lp, D) + text modality embedding ─┐
    image / video / audio --its encoder--> (B, N, D) + modality embedding ┴─ concat ─> shared trunk ─> memory
    memory --TextDecoder (causal self-attn + cross-attn, output tied to the text embedding)--> logits

One vocabulary serves the encoder and the decoder: byte-level BPE trained locally + the special tokens +
``<bin_0>``…``<bin_{N-1}>`` location tokens. The decoder's embedding *is* the text encoder's
``token_embed`` (tied input, tied output), so a location token means the same in a prompt and in an answer.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.errors import OmnivecError
from omnivec.families.unival.config import UnivalModelConfig, UnivalRunConfig, file_read_options
from omnivec.nn.encoders.image import ImageEncoderConfig
from omnivec.nn.encoders.text import TextEncoderConfig
from omnivec.nn.generation import allowed_mask, beam_search, greedy
from omnivec.nn.heads.decoder import TextDecoder
from omnivec.nn.model import OmniModel
from omnivec.nn.tokenizer import TextTokenizer
from omnivec.tasks.locations import bin_token, special_tokens
from omnivec.tasks.seq2seq import Decoding, Seq2SeqKind, TeacherForced, seq2seq_kind
from omnivec.training import checkpoint as ckpt
from omnivec.types import EncoderInput, Modality, to_device

if TYPE_CHECKING:
    from omnivec.families.unival.task_registry import Seq2SeqTask


class Seq2SeqBatch(NamedTuple):
    """A collated batch of one task. ``prompt`` first so the engine counts samples from it."""

    prompt: EncoderInput
    """Prompt (and, for text tasks, the document) token ids (B, Lp) with lengths."""
    modal: EncoderInput | None
    """The image/video/audio batch; None for text-only tasks."""
    target: Tensor
    """(B, T) target ids: bos, answer, eos, then pad."""


class UnivalModel(nn.Module):
    family = "unival"
    """The run-folder family (``config.yaml: family``) this model is saved and loaded as."""

    def __init__(self, cfg: UnivalModelConfig, tokenizer: TextTokenizer, image_size: int = 64) -> None:
        super().__init__()
        self.cfg = cfg = copy.deepcopy(cfg)  # sized to the tokenizer below; the caller's config stays as given
        self.tokenizer = tokenizer
        self.image_size = image_size
        """Images read from files are resized to this square side (the run's ``image_size``)."""
        text = cfg.backbone.encoders.get(Modality.TEXT)
        if not isinstance(text, TextEncoderConfig):
            raise OmnivecError("a UnIVAL model needs a text encoder (the prompt and the shared vocabulary)")
        text.vocab_size = tokenizer.vocab_size  # one vocabulary: the tokenizer's, bins included
        cfg.backbone.tasks = []
        self.backbone = OmniModel(cfg.backbone, tokenizer)
        b = cfg.backbone
        self.decoder = TextDecoder(
            tokenizer.vocab_size,
            b.embed_dim,
            cfg.decoder_depth,
            b.num_heads,
            b.mlp_ratio,
            cfg.decoder_max_length,
            embedding=self.backbone.encoders[Modality.TEXT].token_embed,  # type: ignore[arg-type]  # tied
            post_norm=b.post_norm,
            norm_eps=b.norm_eps,
            embed_norm=cfg.decoder_embed_norm,
        )
        ids = [tokenizer.tk.token_to_id(bin_token(i)) for i in range(cfg.num_bins)]
        self.bin_ids: list[int] = [int(i) for i in ids if i is not None]
        if len(self.bin_ids) != cfg.num_bins:
            raise OmnivecError(f"the tokenizer lacks location tokens for {cfg.num_bins} bins")
        if cfg.bin_init == "sincos":
            self._sincos_bins()
        elif cfg.bin_init != "random":
            raise OmnivecError(f"model.bin_init: unknown {cfg.bin_init!r}; expected random or sincos")

    def _sincos_bins(self) -> None:
        """Bin i <- the image encoder's sine-cosine position of coordinate i/(N-1) along both axes (in units of
        its tokens), rescaled to the embedding table's spread."""
        from omnivec.nn.layers.pos import sincos_1d

        image = self.cfg.backbone.encoders.get(Modality.IMAGE)
        patch = getattr(image, "patch_size", ImageEncoderConfig.patch_size)  # every image encoder's token stride
        side = self.image_size / int(patch)  # tokens along a side
        table: Tensor = self.backbone.encoders[Modality.TEXT].token_embed.weight  # type: ignore[union-attr,assignment]
        width = int(table.shape[1])
        half = width // 2 // 2 * 2
        pos = torch.linspace(0, 1, self.cfg.num_bins) * side - 0.5  # the coordinate in token units
        emb = torch.cat([sincos_1d(half, pos), sincos_1d(half, pos)], -1)
        emb = F.pad(emb, (0, width - int(emb.shape[1])))
        with torch.no_grad():
            table[self.bin_ids] = emb * (table.std() / emb.std())

    # ------------------------------------------------------------------ text <-> ids

    @staticmethod
    def train_tokenizer(texts: Sequence[str], vocab_size: int, num_bins: int) -> TextTokenizer:
        """Subwords trained on ``texts`` + special tokens + the ``num_bins`` location tokens."""
        return TextTokenizer.train(texts, vocab_size + num_bins, extra_tokens=special_tokens(num_bins))

    def encode_target(self, answers: Sequence[str]) -> Tensor:
        """Answers -> (B, T) ids ``<s> answer </s> <pad>…``, truncated to the decoder's max length."""
        tk = self.tokenizer
        T = self.cfg.decoder_max_length
        rows = [[tk.bos_id, *tk.encode(a, T - 2), tk.eos_id] for a in answers]
        out = torch.full((len(rows), max(len(r) for r in rows)), tk.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r)
        return out

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text, keeping location tokens (the tokenizer's own decode drops every special token)."""
        tk = self.tokenizer
        drop = {tk.pad_id, tk.bos_id, tk.eos_id}
        bins = {i: bin_token(k) for k, i in enumerate(self.bin_ids)}
        parts: list[str] = []
        run: list[int] = []
        for i in ids:
            if i in drop:
                continue
            if i in bins:
                if run:
                    parts.append(tk.decode(run))
                    run = []
                parts.append(bins[i])
            else:
                run.append(i)
        if run:
            parts.append(tk.decode(run))
        return "".join(p if p.startswith("<bin_") else p.strip() + " " for p in parts).strip()

    # ------------------------------------------------------------------ encoder and loss

    def collate(
        self,
        modality: str | None,
        prompts: Sequence[str],
        samples: Sequence[Any] | None,
        answers: Sequence[str] | None = None,
    ) -> Seq2SeqBatch:
        prompt = self.backbone.collate(Modality.TEXT, list(prompts))
        modal = None
        if modality is not None and modality != Modality.TEXT:
            modal = self.backbone.collate(modality, list(samples or []))
        target = self.encode_target(answers) if answers is not None else torch.zeros(len(prompts), 0, dtype=torch.long)
        return Seq2SeqBatch(prompt, modal, target)

    def encode(self, modality: str | None, batch: Seq2SeqBatch) -> tuple[Tensor, Tensor | None]:
        """Prompt tokens ++ modality tokens through the trunk -> memory (B, N, D) and its pad mask."""
        t = self.backbone.encode(Modality.TEXT, batch.prompt)
        parts, masks = [t.x], [t.pad_mask]
        if batch.modal is not None and modality is not None:
            m = self.backbone.encode(modality, batch.modal)
            parts.append(m.x)
            masks.append(m.pad_mask)
        x = torch.cat(parts, dim=1)
        pad = None
        if any(mk is not None for mk in masks):
            pad = torch.cat(
                [mk if mk is not None else torch.zeros(p.shape[:2], dtype=torch.bool, device=x.device)
                 for mk, p in zip(masks, parts)], dim=1)  # fmt: skip
        return self.backbone.trunk(x, pad), pad

    def teacher_forced(self, modality: str | None, batch: Seq2SeqBatch) -> TeacherForced:
        """The decoder's logits for every next target token, fed the target (teacher forcing), with the pad id
        and label smoothing the loss needs: what a seq2seq kind's
        :meth:`~omnivec.tasks.seq2seq.Seq2SeqKind.forward` returns and its ``loss`` scores."""
        memory, pad = self.encode(modality, batch)
        inp = batch.target[:, :-1]
        pad_id = self.tokenizer.pad_id
        logits = self.decoder(inp, memory, pad, inp == pad_id)  # (B, T-1, V)
        return TeacherForced(logits, pad_id, self.cfg.label_smoothing)

    def supervised_task(self, name: str) -> tuple[Seq2SeqTask, Seq2SeqKind]:
        """Seq2seq task ``name`` and its kind: what :class:`~omnivec.training.objective.SupervisedObjective` trains
        a batch of it with."""
        from omnivec.families.unival.tasks import get_seq2seq_task

        spec = get_seq2seq_task(name)
        return spec, seq2seq_kind(spec.kind)

    # ------------------------------------------------------------------ the user API shared with OmniModel

    @property
    def encoders(self) -> nn.ModuleDict:
        return self.backbone.encoders

    def read_options(self, modality: str) -> dict[str, Any]:
        """How files of ``modality`` are decoded for this model (:func:`file_read_options`: the encoder's options,
        a video encoder's clip length and frame size among them; images at the run's size)."""
        return file_read_options(self.cfg, modality, self.image_size)

    def embed(self, modality: str, inputs: EncoderInput | Sequence[Any]) -> Tensor:
        """(B, D) vectors of raw samples or file paths of one modality: the shared encoder and trunk, mean-pooled
        (the encoder-decoder's representation, without a prompt)."""
        from omnivec.data.readers.inputs import has_paths, read_inputs

        if not isinstance(inputs, (EncoderInput, Tensor)) and has_paths(inputs, modality):
            inputs = read_inputs(inputs, modality, self.read_options(modality))
        return self.backbone.embed(modality, inputs)

    def predict(self, task: str, inputs: Sequence[Any], **kw: Any) -> list[Any]:
        """The answers of a seq2seq task (see :meth:`generate`); the same call as ``OmniModel.predict``."""
        return self.generate(task, inputs, **kw)

    # ------------------------------------------------------------------ generation

    @torch.no_grad()
    def generate_ids(
        self, modality: str | None, batch: Seq2SeqBatch, decoding: Decoding | None = None
    ) -> list[list[int]]:
        """Answer ids of a collated batch, greedy (``beam`` 1) or with a beam, under ``decoding`` (a task kind's
        :meth:`~omnivec.tasks.seq2seq.Seq2SeqKind.decoding`; default: free text of up to 20 tokens)."""
        d = decoding or Decoding(20)
        was = self.training
        self.eval()
        try:
            memory, pad = self.encode(modality, batch)
            tk = self.tokenizer
            allowed = None
            if d.allowed_ids is not None:
                allowed = allowed_mask(d.allowed_ids, self.decoder.vocab_size, memory.device)
            max_len = min(d.max_len or 20, self.decoder.max_length)
            if d.beam > 1:
                return beam_search(
                    self.decoder, memory, pad, tk.bos_id, tk.eos_id, d.beam, max_len, d.min_len,
                    d.length_penalty, d.no_repeat_ngram, allowed,
                )  # fmt: skip
            return greedy(
                self.decoder, memory, pad, tk.bos_id, tk.eos_id, max_len, d.min_len, allowed, d.no_repeat_ngram
            )
        finally:
            self.train(was)

    def generate(
        self,
        task: str,
        inputs: Sequence[Any],
        beam: int = 1,
        max_len: int = 0,
        no_repeat_ngram: int = 3,
        length_penalty: float = 1.0,
        batch_size: int = 32,
    ) -> list[Any]:
        """Answers for raw inputs of a seq2seq task (see :mod:`omnivec.families.unival.tasks` for what an input is:
        an image/clip/waveform, an (image, question) pair, a document string, …), in the format of the task's
        kind (:meth:`~omnivec.tasks.seq2seq.Seq2SeqKind.output`). Decoding options (:class:`~omnivec.tasks.seq2seq.
        Decoding`), the same for every text task: ``beam`` (1: greedy), ``max_len`` (0: the task's default),
        ``no_repeat_ngram`` (no n-gram twice in an answer; 0: off), ``length_penalty`` (beam search).

        Text for every kind but grounding. A grounding task (input ``(image, phrase)``) gives one
        :class:`~omnivec.tasks.locations.Grounding` per input: ``.text`` the raw ``<bin_i>`` tokens, ``.box``
        ``(x0, y0, x1, y1)`` in pixels of that input image (a file's as stored, not its resize; a tensor's last
        two axes are height, width), ordered and inside the image, or None when the output is not four
        location tokens."""
        from omnivec.families.unival.tasks import get_seq2seq_task

        spec = get_seq2seq_task(task)
        kind = seq2seq_kind(spec.kind)
        decoding = Decoding(max_len, beam, no_repeat_ngram, length_penalty)
        texts = self.generate_text(task, inputs, decoding, batch_size)
        return [kind.output(text, raw, spec.modality, self.cfg.num_bins) for text, raw in zip(texts, inputs)]

    def generate_text(
        self, task: str, inputs: Sequence[Any], decoding: Decoding | None = None, batch_size: int = 32
    ) -> list[str]:
        """The decoded answer text for raw inputs of a seq2seq task, grounding included (its ``<bin_i>``
        tokens as text); :meth:`generate` without the boxes. ``decoding``: the caller's options (default:
        :class:`~omnivec.tasks.seq2seq.Decoding`'s), which the task's kind completes."""
        from omnivec.data.readers.inputs import has_paths, read_inputs
        from omnivec.families.unival.tasks import get_seq2seq_task

        spec = get_seq2seq_task(task)
        decoding = seq2seq_kind(spec.kind).decoding(self, decoding or Decoding(), spec.max_len)
        out: list[str] = []
        device = next(self.parameters()).device
        if spec.modality is not None and has_paths(inputs, spec.modality):
            inputs = read_inputs(inputs, spec.modality, self.read_options(spec.modality))
        for s in range(0, len(inputs), batch_size):
            chunk = list(inputs[s : s + batch_size])
            prompts, samples = zip(*(spec.prompt_and_sample(x) for x in chunk))
            batch = self.collate(spec.modality, prompts, samples)
            batch = to_device(batch, device)
            ids = self.generate_ids(spec.modality, batch, decoding)
            out.extend(self.decode(r) for r in ids)
        return out


# ---------------------------------------------------------------------------------------- run folders


TIED = {"decoder.embed.weight": "backbone.encoders.text.token_embed.weight"}
"""The decoder's embedding is the text encoder's: stored once, under the text encoder's name."""


def save_unival(model: UnivalModel, cfg: UnivalRunConfig, run_dir: str | Path) -> None:
    from omnivec.runs import save_folder

    save_folder(model, cfg, run_dir, "omnivec-unival", TIED)


def load_unival(run_dir: str | Path, weights: str = ckpt.WEIGHTS) -> tuple[UnivalModel, UnivalRunConfig]:
    from omnivec.runs import load_weights_into, read_config

    run_dir = Path(run_dir)
    cfg = read_config(run_dir, "unival", UnivalRunConfig)
    model = UnivalModel(cfg.model, TextTokenizer.load(run_dir / ckpt.TOKENIZER), cfg.image_size)
    return load_weights_into(model, run_dir, weights, "its config", TIED), cfg
