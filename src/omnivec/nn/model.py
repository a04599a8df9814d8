"""The unified model (OmniVec, arXiv 2311.05709 §3): modality encoders -> one shared token space (+ modality
embedding, optional meta tokens) -> one trunk -> vectorizer -> heads keyed by task name.

    raw samples --collate--> EncoderInput --encoder--> Tokens (B, N, D)
        --prefix [cls] [meta_1..K] + modality embedding--> trunk --> Features --vectorizer--> (B, D)
        --heads[task]--> named-tuple output --tasks[kind]--> loss / metrics / predictions

Adding a modality touches ``encoders/``; adding a task kind touches ``heads/`` and ``tasks/``; this file stays.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from omnivec.config import ModelConfig, TaskConfig
from omnivec.errors import OmnivecError
from omnivec.nn.encoders import Encoder, build_encoder
from omnivec.nn.heads import HEADS, Features
from omnivec.nn.layers.attention import init_weights
from omnivec.nn.tokenizer import TextTokenizer
from omnivec.nn.trunk import Trunk
from omnivec.nn.vectorizer import Vectorizer
from omnivec.types import EncoderInput, Modality, Tokens, to_device

if TYPE_CHECKING:
    from omnivec.tasks.base import TaskKind


class OmniModel(nn.Module):
    family = "omnivec"
    """The run-folder family (``config.yaml: family``) this model is saved and loaded as."""

    def __init__(self, cfg: ModelConfig, tokenizer: TextTokenizer | None = None) -> None:
        super().__init__()
        self.cfg = cfg = copy.deepcopy(cfg)  # the model's own: add_task extends it, the caller's stays as given
        D = cfg.embed_dim
        self.encoders = nn.ModuleDict({m: build_encoder(spec, D) for m, spec in cfg.encoders.items()})
        for m, enc in self.encoders.items():
            if enc.modality != m:
                raise OmnivecError(f"encoders.{m}: the {cfg.encoders[m].name} encoder reads {enc.modality}, not {m}")
        self.modality_embed = nn.ParameterDict({m: nn.Parameter(torch.zeros(1, 1, D)) for m in cfg.encoders})
        self.meta_tokens = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(1, cfg.num_meta_tokens, D)) for m in cfg.encoders}
            if cfg.num_meta_tokens > 0
            else {}
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D)) if cfg.vectorizer == "cls" else None
        self.trunk = Trunk(
            D, cfg.depth, cfg.num_heads, cfg.mlp_ratio, cfg.drop_path, cfg.layer_scale, cfg.post_norm, cfg.norm_eps
        )
        pools = {m: self.encoder(m).default_pool for m in self.encoders}
        self.vectorizer = Vectorizer(cfg.vectorizer, D, pools)
        self.heads = nn.ModuleDict()
        self.tasks: dict[str, TaskConfig] = {}
        init_weights(self.trunk)
        for p in [*self.modality_embed.values(), *self.meta_tokens.values()]:
            nn.init.normal_(p, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)
        for t in cfg.tasks:
            self.add_task(t)
        self.set_tokenizer(tokenizer)

    # ------------------------------------------------------------------ structure

    def add_task(self, task: TaskConfig) -> None:
        """Attach a head for ``task`` (used at build time and when fine-tuning adds tasks)."""
        if task.name in self.heads:
            raise OmnivecError(f"task {task.name!r} already has a head")
        if hasattr(self.heads, task.name) or "." in task.name:
            raise OmnivecError(f"task name {task.name!r} is reserved (a module attribute or has a '.'); rename it")
        encoder = self.encoder(task.modality)
        try:
            self.heads[task.name] = HEADS.get(task.kind)(task, self.cfg, encoder)
        except (KeyError, ValueError) as e:
            raise OmnivecError(str(e.args[0])) from None
        self.tasks[task.name] = task
        if task not in self.cfg.tasks:
            self.cfg.tasks.append(task)

    def set_tokenizer(self, tokenizer: TextTokenizer | None) -> None:
        self.tokenizer = tokenizer
        if tokenizer is not None and Modality.TEXT in self.encoders:
            enc: Any = self.encoders[Modality.TEXT]
            if tokenizer.vocab_size > enc.cfg.vocab_size:
                raise OmnivecError(
                    f"tokenizer has {tokenizer.vocab_size} tokens but the text encoder's "
                    f"vocab_size is {enc.cfg.vocab_size}"
                )
            enc.tokenizer = tokenizer

    def encoder(self, modality: str) -> Encoder:
        if modality not in self.encoders:
            raise OmnivecError(f"this model has no {modality!r} encoder; it has: {', '.join(self.encoders)}")
        return self.encoders[modality]  # type: ignore[return-value]

    def task(self, name: str) -> TaskConfig:
        if name not in self.tasks:
            raise OmnivecError(f"unknown task {name!r}; this model has: {', '.join(self.tasks) or '(none)'}")
        return self.tasks[name]

    def supervised_task(self, name: str) -> tuple[TaskConfig, TaskKind]:
        """Task ``name``'s config and its kind: what :class:`~omnivec.training.objective.SupervisedObjective`
        trains a batch of it with."""
        from omnivec.tasks import task_kind

        cfg = self.task(name)
        return cfg, task_kind(cfg.kind)

    @property
    def num_prefix(self) -> int:
        return (self.cls_token is not None) + self.cfg.num_meta_tokens

    # ------------------------------------------------------------------ forward, in small named steps

    def collate(self, modality: str, samples: Sequence[Any]) -> EncoderInput:
        return self.encoder(modality).collate(list(samples))

    def encode(self, modality: str, inp: EncoderInput) -> Tokens:
        """Encoder tokens in the shared space, modality embedding added (no prefix yet)."""
        tokens = self.encoder(modality)(inp)
        return tokens._replace(x=tokens.x + self.modality_embed[modality])

    def forward_tokens(self, modality: str, tokens: Tokens) -> Features:
        """Prefix cls/meta tokens and run the trunk. Masked pretraining calls this with only the visible
        tokens."""
        x, pad = self.with_prefix(modality, tokens)
        return Features(self.trunk(x, pad), pad, self.num_prefix, tokens.grid, tokens.skips, tokens.size, modality)

    def with_prefix(self, modality: str, tokens: Tokens) -> tuple[Tensor, Tensor | None]:
        """The trunk's input: cls/meta tokens before the data tokens, (B, P + N, D), and its padding mask."""
        x, pad = tokens.x, tokens.pad_mask
        B = x.shape[0]
        prefix = []
        if self.cls_token is not None:
            prefix.append(self.cls_token.expand(B, -1, -1))
        if self.meta_tokens:
            prefix.append(self.meta_tokens[modality].expand(B, -1, -1))
        if prefix:
            x = torch.cat([*prefix, x], dim=1)  # (B, P + N, D)
            if pad is not None:
                pad = torch.cat([pad.new_zeros(B, self.num_prefix), pad], dim=1)
        return x, pad

    def forward_features(self, modality: str, inp: EncoderInput) -> Features:
        return self.forward_tokens(modality, self.encode(modality, inp))

    def pool(self, feats: Features) -> Tensor:
        return self.vectorizer(feats.x, feats.pad_mask, feats.num_prefix, feats.modality)

    def forward(self, task: str, inp: EncoderInput) -> Any:
        """The head output (a named tuple) of ``task`` for a collated batch."""
        cfg = self.task(task)
        feats = self.forward_features(cfg.modality, inp)
        return self.heads[task](feats, self.pool(feats))

    # ------------------------------------------------------------------ user API

    def read_options(self, modality: str, task: str | None = None) -> dict[str, Any]:
        """How files of ``modality`` are decoded for this model: its encoder's ``read_options``, and for a task
        trained on fixed-size samples, that size (``TaskConfig.input_shape``; without ``task``, the first such task
        of the modality)."""
        if task is not None:
            shape = self.task(task).input_shape
        else:
            shape = next((t.input_shape for t in self.tasks.values() if t.modality == modality and t.input_shape), [])
        encoder = self.encoder(modality)
        return encoder.read_options(encoder.cfg, shape)

    def _as_input(self, modality: str, inputs: EncoderInput | Sequence[Any], task: str | None = None) -> EncoderInput:
        """Raw samples, file paths (:mod:`omnivec.data.readers.inputs`), a batch tensor or a collated batch -> a
        collated batch on the model's device; files are decoded as ``task`` was trained (:meth:`read_options`)."""
        from omnivec.data.readers.inputs import has_paths, read_inputs

        if isinstance(inputs, Tensor) and modality not in (Modality.TEXT, Modality.AUDIO):
            inputs = EncoderInput(inputs)
        if not isinstance(inputs, EncoderInput):
            if has_paths(inputs, modality):
                inputs = read_inputs(inputs, modality, self.read_options(modality, task))
            inputs = self.collate(modality, inputs)
        return to_device(inputs, next(self.parameters()).device)

    @torch.no_grad()
    def embed(self, modality: str, inputs: EncoderInput | Sequence[Any], task: str | None = None) -> Tensor:
        """(B, D) vectors from the vectorizer for raw samples, file paths or a collated batch of one modality.

        With ``task`` (a retrieval task with ``modality`` on one of its two sides), the unit (B, E) vectors of
        that task's projection instead: the space where its two modalities were trained to meet, so an audio
        clip and an image embedded through the same task compare by cosine."""
        head = self.retrieval_head(task, modality) if task is not None else None
        was = self.training
        self.eval()
        try:
            feats = self.forward_features(modality, self._as_input(modality, inputs))
            pooled = self.pool(feats)
            return pooled if head is None else head(feats, pooled).embedding
        finally:
            self.train(was)

    def retrieval_head(self, task: str, modality: str) -> nn.Module:
        """The head of retrieval task ``task``, checked to take ``modality`` on one of its sides."""
        from omnivec.tasks import task_kind

        cfg = self.task(task)
        if not task_kind(cfg.kind).paired:
            raise OmnivecError(f"task {task!r} is {cfg.kind}, not retrieval: it has no embedding space to share")
        if modality not in (cfg.modality, cfg.pair_modality):
            raise OmnivecError(f"retrieval task {task!r} pairs {cfg.modality} with {cfg.pair_modality}, not {modality}")
        return self.heads[task]

    @torch.no_grad()
    def predict(
        self, task: str, inputs: EncoderInput | Sequence[Any], sizes: Sequence[tuple[int, ...] | None] | None = None
    ) -> list[Any]:
        """Predictions for raw samples or file paths: class names (or indices) for classification, (H, W) class maps for
        segmentation, unit embeddings for retrieval. A class map has its input's size (a file's as stored, before
        the run's reader resized it), or ``sizes[i]`` when given (e.g. an upload's, decoded elsewhere)."""
        from omnivec.data.readers.inputs import spatial_sizes
        from omnivec.tasks import task_kind

        cfg = self.task(task)
        if sizes is None:
            sizes = (
                [None] * int(inputs.data.shape[0])
                if isinstance(inputs, EncoderInput)
                else spatial_sizes(inputs, cfg.modality)
            )
        was = self.training
        self.eval()
        try:
            out = self(task, self._as_input(cfg.modality, inputs, task))
        finally:
            self.train(was)
        out = to_device(out, torch.device("cpu"))
        return task_kind(cfg.kind).predictions_at(out, cfg, sizes)
