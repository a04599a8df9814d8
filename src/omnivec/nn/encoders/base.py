"""The encoder contract: raw samples -> :class:`EncoderInput` (``collate``) -> :class:`Tokens` (``forward``).

An encoder module lives in ``encoders/<name>.py`` with its config dataclass, its module and its registration;
the model never needs an edit to gain a modality.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from omnivec.config.encoder import EncoderConfig
from omnivec.errors import OmnivecError
from omnivec.nn.layers.pos import sincos_nd
from omnivec.nn.masking import Masked, random_masking
from omnivec.registry import Registry
from omnivec.types import EncoderInput, Modality, Tokens


class Encoder(nn.Module):
    """Base class. Subclasses set ``modality`` and ``Config`` and implement ``forward`` and ``collate``.

    An encoder owns everything that is particular to its modality, so a new modality is one file: how files are
    read (``read_options``, or ``read_file`` for a modality the built-in readers do not know), how a batch is
    collated and augmented, its masked-pretraining contract (``default_mask_ratio``, ``target_dim``,
    ``decoder_positions``, ``reconstruction_loss``) and its ONNX input (``export_name``, ``example_samples``).
    """

    modality: ClassVar[str]
    """The modality key (a built-in :class:`Modality` or any new name): config ``encoders.<modality>``."""
    Config: ClassVar[type[EncoderConfig]]
    """Its config dataclass (a subclass of :class:`EncoderConfig`, one per registered encoder)."""
    default_pool: ClassVar[str] = "max"
    """How the vectorizer pools this encoder's tokens when the model's vectorizer is ``auto``."""
    maskable: ClassVar[bool] = True
    """Whether masked pretraining can hide tokens without a kept token seeing hidden input."""
    default_mask_ratio: ClassVar[float] = 0.75
    """Share of the tokens hidden in masked pretraining unless the pretraining config says otherwise."""
    export_name: ClassVar[str] = "inputs"
    """Name of the collated input tensor in an exported ONNX graph."""
    fixed_size_why: ClassVar[str] = ""
    """Export: why a sample's axes are fixed in the graph ("" when the input has a dynamic length axis)."""
    takes_shape: ClassVar[bool] = False
    """Export: whether ``--shape`` (the sample size to trace with) applies."""
    file_extensions: ClassVar[tuple[str, ...]] = ()
    """Extensions ``read_file`` reads, for a modality the built-in readers (omnivec.data) do not know."""

    def __init__(self, cfg: Any, embed_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_dim = embed_dim

    def forward(self, inp: EncoderInput) -> Tokens:  # pragma: no cover - abstract
        raise NotImplementedError

    def collate(self, samples: list[Any]) -> EncoderInput:  # pragma: no cover - abstract
        """Stack raw samples of this modality into a batch (pad variable-length ones)."""
        raise NotImplementedError

    @classmethod
    def read_options(cls, cfg: Any, shape: Sequence[int] = ()) -> dict[str, Any]:
        """How a file must be decoded to fit an encoder of config ``cfg`` (fields of
        ``omnivec.data.readers.ReadOptions``, e.g. the sample rate), and to fit a task whose training samples had
        ``shape`` (``TaskConfig.input_shape``, e.g. [C, H, W]; empty: no fixed size). The file readers and
        ``model.embed``/``predict`` on file paths use it; a class method, so the data layer can ask before a
        model exists."""
        return {}

    @classmethod
    def read_file(cls, path: Any, options: dict[str, Any]) -> Any:
        """One file -> one raw sample, for a modality the built-in readers do not know (the built-in modalities
        are read by :func:`omnivec.data.readers.read_sample`)."""
        raise OmnivecError(f"{path}: no reader for {cls.modality} files; the {cls.__name__} encoder defines none")

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

    def target_dim(self) -> int:
        """Width of one token's reconstruction target (the last axis of ``patch_targets``)."""
        raise NotImplementedError(f"{type(self).__name__} has no reconstruction targets")

    def decoder_positions(self, inp: EncoderInput, grid: tuple[int, ...], n: int) -> tuple[Tensor, Any]:
        """Positions (B or 1, n, D) of all ``n`` tokens for the reconstruction decoder, and any context the loss
        needs; this default is the sine-cosine table over the token grid."""
        return sincos_nd(self.embed_dim, grid, inp.data.device)[None], None

    def reconstruction_loss(
        self, pred: Tensor, inp: EncoderInput, hidden: Tensor, context: Any, norm_targets: bool
    ) -> tuple[Tensor, dict[str, float]]:
        """Masked pretraining's loss over the hidden tokens (``hidden``: (B, N) bool) of the decoder's
        predictions (B, N, target_dim); this default is MAE's: MSE against the (per-token normalised, when a
        token has more than one target value) patch targets."""
        target = self.patch_targets(inp)  # (B, N, P)
        if norm_targets and target.shape[-1] > 1:  # one number per token has no per-token statistics
            centred = target - target.mean(-1, keepdim=True)  # unbiased variance, written out: torch.var is ~5x
            var = centred.pow(2).sum(-1, keepdim=True) / (target.shape[-1] - 1)  # slower on this CPU build
            target = centred / (var + 1e-6).sqrt()
        mse = (pred.float() - target).pow(2).mean(-1)
        loss = (mse * hidden).sum() / hidden.sum().clamp(min=1)
        return loss, {"loss": float(loss.detach())}

    def example_samples(self, shape: Sequence[int] | None, g: torch.Generator) -> list[Any] | None:
        """Three seeded raw samples to trace an ONNX export with (of ``shape`` where the size is fixed), or None
        when the size must come from the run's data."""
        return None

    def masked_tokens(
        self, inp: EncoderInput, ratio: float, own_patch: bool = False
    ) -> tuple[Masked, tuple[int, ...], Tensor | None]:
        """Masked pretraining's view of a batch: the kept tokens of a random mask (no positions-only leak of a
        hidden input into a kept token), the token grid and the padding mask. This default embeds every token
        and keeps a random subset, which is leak-free when each token depends on its own input only; encoders
        whose tokens mix neighbours (convolutions) override it. ``own_patch``: a stem that mixes neighbours
        embeds each kept token from its own input alone, where the encoder can (image and video cnn stems)."""
        tokens = self(inp)
        return random_masking(tokens.x, ratio, tokens.pad_mask), tokens.grid, tokens.pad_mask

    def check(self, inp: EncoderInput, ndim: int, what: str) -> Tensor:
        x = inp.data
        if not isinstance(x, Tensor):
            raise OmnivecError(f"{self.modality} encoder: expected a torch.Tensor {what}, got {type(x).__name__}")
        if x.ndim != ndim:
            raise OmnivecError(f"{self.modality} encoder: expected {what}, got shape {tuple(x.shape)}")
        if not x.is_floating_point() and self.modality != Modality.TEXT:
            raise OmnivecError(f"{self.modality} encoder: expected a floating-point tensor, got {x.dtype}")
        return x


class Unmaskable:
    """Mixin for encoders whose every token sees the whole input (a CNN's receptive field): masked pretraining
    would leak hidden content into the kept tokens, so it is refused."""

    maskable: ClassVar[bool] = False

    def masked_tokens(
        self, inp: EncoderInput, ratio: float, own_patch: bool = False
    ) -> tuple[Masked, tuple[int, ...], Tensor | None]:
        raise OmnivecError(
            f"{type(self).__name__} cannot be used in masked pretraining: its tokens mix neighbouring inputs, so "
            "kept tokens would see hidden ones; pretrain with the patch/cnn-stem encoders instead"
        )


def padding_or_none(pad: Tensor) -> Tensor | None:
    """A (B, N) padding mask, or None when no sample is padded so attention keeps its unmasked fast path. Under
    ``torch.export`` (ONNX export) the mask is always kept: a graph cannot branch on data, and an all-False mask
    computes the same thing."""
    if torch.compiler.is_exporting():
        return pad
    return pad if bool(pad.any()) else None


class EncoderRegistry(Registry[type[Encoder]]):
    """Registered name -> encoder class; registering also names the encoder's config dataclass, so a config
    object knows which encoder it builds and is written as ``{name: ..., fields}``."""

    def register(self, name: str) -> Callable[[type[Encoder]], type[Encoder]]:
        add = super().register(name)

        def deco(cls: type[Encoder]) -> type[Encoder]:
            config = cls.__dict__.get("Config")
            if not (isinstance(config, type) and issubclass(config, EncoderConfig)):
                raise TypeError(f"encoder {name!r}: {cls.__name__}.Config must be its own EncoderConfig dataclass")
            if config.name and config.name != name and config.name in self:
                raise TypeError(f"encoder {name!r}: {config.__name__} already configures {config.name!r}")
            config.name = name
            return add(cls)

        return deco


ENCODERS = EncoderRegistry("encoder")


def modalities() -> list[str]:
    """Every modality some registered encoder reads, built-in or added (sorted)."""
    return sorted({str(ENCODERS.get(n).modality) for n in ENCODERS.names()})


def default_mask_ratio(modality: str) -> float:
    """The masked-pretraining ratio of ``modality``'s encoders (the first registered one's)."""
    for n in ENCODERS.names():
        cls = ENCODERS.get(n)
        if cls.modality == modality:
            return cls.default_mask_ratio
    raise OmnivecError(f"no registered encoder reads {modality!r}; have {modalities()}")


def build_encoder(cfg: EncoderConfig, embed_dim: int) -> Encoder:
    """The registered encoder that ``cfg`` configures (``cfg.name``), at width ``embed_dim``."""
    return ENCODERS.get(cfg.name)(cfg, embed_dim)
