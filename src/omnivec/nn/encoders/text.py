"""Text encoder: subword ids (a tokenizer trained locally with HF ``tokenizers``, saved with the model) ->
token embeddings + hashed bigram embeddings + learned positions, with a padding mask for variable lengths.

The bigram embedding (fastText's hashed n-grams, Joulin et al. 2017) gives every token a vector for the pair
(previous token, this token), looked up in a table of ``bigram_buckets`` rows by a fixed hash: phrases such as
"card arrive" become one learned feature from the first step, which a trunk trained from scratch on a few
thousand sentences would otherwise have to discover (docs/learning.md measures it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.config.encoder import EncoderConfig
from omnivec.errors import OmnivecError
from omnivec.nn.encoders.base import ENCODERS, Encoder, padding_or_none
from omnivec.nn.tokenizer import TextTokenizer
from omnivec.types import EncoderInput, Modality, Tokens


@dataclass
class TextEncoderConfig(EncoderConfig):
    vocab_size: int = 8192
    """Size of the subword vocabulary (the tokenizer is trained to at most this size)."""
    max_length: int = 64
    """Longest token sequence; longer texts are truncated."""
    bigram_buckets: int = 65536
    """Rows of the hashed bigram-embedding table; 0 disables bigram features. Collisions cost accuracy: Banking77
    (3000 train, full test, seeds 0/1) 16384 rows 0.814/0.803, 65536 rows 0.824/0.827, 131072 rows 0.833/0.823
    (docs/learning.md)."""
    token_dropout: float = 0.0
    """Training augmentation: replace this share of tokens with <unk> (word dropout; 0: off, the default:
    it cost 3 points of Banking77 accuracy at the quickstart's 3 epochs, docs/learning.md)."""
    lowercase: bool = True
    """Fold case when the tokenizer is trained and applied (uncased, as TF-IDF and uncased BERT)."""
    type_embed: bool = False
    """Add one learned vector to every token (BERT's token-type embedding of segment 0, kept so imported BERT
    weights give BERT's numbers; omnivec feeds one segment)."""
    embed_norm: bool = False
    """LayerNorm the summed embeddings before the trunk (BERT's and BART's embedding LayerNorm)."""
    embed_norm_eps: float = 1e-5
    """Epsilon of that LayerNorm (BERT uses 1e-12)."""


@ENCODERS.register("text_embedding")
class TextEncoder(Encoder):
    modality = Modality.TEXT
    Config = TextEncoderConfig
    default_mask_ratio = 0.4  # not BERT's 0.15: the probe of docs/recipe.md, "Text: hide 40 %" (Wettig et al. 2023)
    export_name = "token_ids"
    default_pool = "mean"

    def __init__(self, cfg: TextEncoderConfig, embed_dim: int) -> None:
        super().__init__(cfg, embed_dim)
        self.token_embed = nn.Embedding(cfg.vocab_size, embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.max_length, embed_dim))
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.02)
        self.bigram_embed: nn.Embedding | None = None
        if cfg.bigram_buckets > 0:
            self.bigram_embed = nn.Embedding(cfg.bigram_buckets, embed_dim)
            nn.init.normal_(self.bigram_embed.weight, std=0.02)
        self.type_embed = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cfg.type_embed else None
        self.embed_norm: nn.Module = nn.LayerNorm(embed_dim, cfg.embed_norm_eps) if cfg.embed_norm else nn.Identity()
        self.tokenizer: TextTokenizer | None = None

    def forward(self, inp: EncoderInput) -> Tokens:
        ids = inp.data
        if ids.ndim != 2 or ids.dtype not in (torch.int64, torch.int32):
            raise OmnivecError(f"text encoder: expected token ids (B, L) of int64, got {tuple(ids.shape)} {ids.dtype}")
        B, L = ids.shape
        if self.cfg.max_length < L:
            raise OmnivecError(f"text encoder: {L} tokens exceed max_length {self.cfg.max_length}")
        # An exported graph cannot check values; onnxruntime's Gather rejects ids >= vocab_size itself.
        if not torch.compiler.is_exporting() and (int(ids.max()) >= self.cfg.vocab_size or int(ids.min()) < 0):
            raise OmnivecError(f"text encoder: token ids must lie in [0, {self.cfg.vocab_size})")
        x = self.token_embed(ids)  # (B, L, D)
        if self.type_embed is not None:  # before the positions, in BERT's order of the sums
            x = x + self.type_embed
        x = x + self.pos_embed[:, :L]
        if self.bigram_embed is not None:
            x = x + self.bigram_embed(bigram_ids(ids, self.cfg.vocab_size, self.cfg.bigram_buckets))
        x = self.embed_norm(x)
        pad = None
        if inp.lengths is not None:
            pad = padding_or_none(torch.arange(L, device=ids.device)[None, :] >= inp.lengths[:, None])
        return Tokens(x, pad, ())

    def augment(
        self, inp: EncoderInput, g: torch.Generator, dense: Tensor | None = None
    ) -> tuple[EncoderInput, Tensor | None]:
        p = self.cfg.token_dropout
        if p <= 0 or self.tokenizer is None:
            return inp, dense
        ids = inp.data
        drop = torch.rand(ids.shape, generator=g) < p
        if inp.lengths is not None:
            drop &= torch.arange(ids.shape[1])[None, :] < inp.lengths[:, None]
        return inp._replace(data=ids.masked_fill(drop, self.tokenizer.unk_id)), dense

    def target_dim(self) -> int:
        return int(self.cfg.vocab_size)

    def decoder_positions(self, inp: EncoderInput, grid: tuple[int, ...], n: int) -> tuple[Tensor, Any]:
        return self.pos_embed[:, :n], None

    def reconstruction_loss(
        self, pred: Tensor, inp: EncoderInput, hidden: Tensor, context: Any, norm_targets: bool
    ) -> tuple[Tensor, dict[str, float]]:
        """BERT: cross-entropy of the hidden tokens' ids (and their accuracy)."""
        count = hidden.sum().clamp(min=1)
        ce = F.cross_entropy(pred.flatten(0, 1).float(), inp.data.flatten(), reduction="none").view(hidden.shape)
        loss = (ce * hidden).sum() / count
        acc = ((pred.argmax(-1) == inp.data) & hidden).sum() / count
        return loss, {"loss": float(loss.detach()), "acc": float(acc)}

    def example_samples(self, shape: Sequence[int] | None, g: torch.Generator) -> list[Any] | None:
        """Texts of three lengths, so the traced batch is padded."""
        text = "an exported graph embeds every sample of one modality the same way on any runtime"
        return [text[:n] for n in (9, len(text), 40)]

    def collate(self, samples: list[Any]) -> EncoderInput:
        if self.tokenizer is None:
            raise OmnivecError("text encoder has no tokenizer: train one (omnivec.nn.tokenizer) or load a run folder")
        for i, s in enumerate(samples):
            if not isinstance(s, str):
                raise OmnivecError(f"text sample {i}: expected a string, got {type(s).__name__}")
        return self.tokenizer.batch(samples, self.cfg.max_length)


def bigram_ids(ids: Tensor, vocab_size: int, buckets: int) -> Tensor:
    """(B, L) token ids -> (B, L) bucket of each (previous, current) pair; the first token pairs with a
    start symbol (``vocab_size``). Padding pairs hash like any other pair and are masked downstream."""
    prev = torch.cat([torch.full_like(ids[:, :1], vocab_size), ids[:, :-1]], dim=1)
    return (prev * 1_000_003 + ids * 7_919) % buckets  # two large primes spread neighbouring ids apart
