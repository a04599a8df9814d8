"""The encoder contract: raw samples -> :class:`EncoderInput` (``collate``) -> :class:`Tokens` (``forward``).

An encoder module lives in ``encoders/<name>.py`` with its config dataclass, its module and its registration;
the model never needs an edit to gain a modality.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from omnivec.config import from_dict
from omnivec.errors import OmnivecError
from omnivec.masking import Masked, random_masking
from omnivec.registry import Registry
from omnivec.types import EncoderInput, Modality, Tokens


class Encoder(nn.Module):
    """Base class. Subclasses set ``modality`` and ``Config`` and implement ``forward`` and ``collate``."""

    modality: ClassVar[Modality]
    Config: ClassVar[type]
    default_pool: ClassVar[str] = "max"
    """How the vectorizer pools this encoder's tokens when the model's vectorizer is ``auto``."""

    def __init__(self, cfg: Any, embed_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_dim = embed_dim

    def forward(self, inp: EncoderInput) -> Tokens:  # pragma: no cover - abstract
        raise NotImplementedError

    def collate(self, samples: list[Any]) -> EncoderInput:  # pragma: no cover - abstract
        """Stack raw samples of this modality into a batch (pad variable-length ones)."""
        raise NotImplementedError

    def read_options(self) -> dict[str, Any]:
        """How a file must be decoded to fit this encoder (fields of ``omnivec.data.readers.ReadOptions``,
        e.g. the sample rate); the file readers and ``model.embed``/``predict`` on file paths use it."""
        return {}

    def augment(
        self, inp: EncoderInput, g: torch.Generator, dense: Tensor | None = None
    ) -> tuple[EncoderInput, Tensor | None]:
        """Training-time augmentation of a collated batch, drawn from ``g`` only (so a resumed stream draws the
        same); ``dense`` is a per-position target of the input's spatial size (segmentation), transformed the
        same way. Off at evaluation: only training streams call it. This default changes nothing."""
        return inp, dense

    def patch_targets(self, inp: EncoderInput) -> Tensor:
        """Per-token reconstruction targets (B, N, P) for masked pretraining, in token order."""
        raise NotImplementedError(f"{type(self).__name__} has no reconstruction targets")

    def masked_tokens(self, inp: EncoderInput, ratio: float) -> tuple[Masked, tuple[int, ...], Tensor | None]:
        """Masked pretraining's view of a batch: the kept tokens of a random mask (no positions-only leak of a
        hidden input into a kept token), the token grid and the padding mask. This default embeds every token
        and keeps a random subset, which is leak-free when each token depends on its own input only; encoders
        whose tokens mix neighbours (convolutions) override it."""
        tokens = self(inp)
        return random_masking(tokens.x, ratio, tokens.pad_mask), tokens.grid, tokens.pad_mask

    def check(self, inp: EncoderInput, ndim: int, what: str) -> Tensor:
        x = inp.data
        if not isinstance(x, Tensor):
            raise OmnivecError(f"{self.modality} encoder: expected a torch.Tensor {what}, got {type(x).__name__}")
        if x.ndim != ndim:
            raise OmnivecError(f"{self.modality} encoder: expected {what}, got shape {tuple(x.shape)}")
        if not x.is_floating_point() and self.modality is not Modality.TEXT:
            raise OmnivecError(f"{self.modality} encoder: expected a floating-point tensor, got {x.dtype}")
        return x


def padding_or_none(pad: Tensor) -> Tensor | None:
    """A (B, N) padding mask, or None when no sample is padded so attention keeps its unmasked fast path. Under
    ``torch.export`` (ONNX export) the mask is always kept: a graph cannot branch on data, and an all-False mask
    computes the same thing."""
    if torch.compiler.is_exporting():
        return pad
    return pad if bool(pad.any()) else None


ENCODERS: Registry[type[Encoder]] = Registry("encoder")


def build_encoder(spec: dict[str, Any], embed_dim: int, where: str = "encoder") -> Encoder:
    """``spec`` is ``{"name": registered name, **config fields}``."""
    spec = dict(spec)
    name = spec.pop("name", None)
    if not name:
        raise OmnivecError(f"{where}: missing 'name'; expected one of {ENCODERS.names()}")
    try:
        cls = ENCODERS.get(name)
    except KeyError as e:
        raise OmnivecError(f"{where}: {e.args[0]}") from None
    cfg: Any = from_dict(cls.Config, spec, where=where)
    return cls(cfg, embed_dim)


def encoder_spec(encoder: Encoder, name: str) -> dict[str, Any]:
    return {"name": name, **dataclasses.asdict(encoder.cfg)}
