"""The converter contract: one class per Hugging Face ``model_type``, registered in :data:`CONVERTERS`.

``to_omnivec(folder, options)`` returns an :class:`Imported`: the run config of an ordinary omnivec model whose
architecture options (learned positions, post-norm, embedding norms, epsilons) reproduce the checkpoint, its
weights keyed as that model's ``state_dict`` and its tokenizer. ``to_hf(model)`` (where a transformers class holds
the same function) gives back ``config.json`` and the hub-named tensors, or None when the model has parts HF's
class cannot hold.

Most tensors move one to one or as a concatenation (HF's separate query/key/value -> our fused ``qkv``); those
moves are written once, as :data:`Rule` tables that both directions read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from omnivec.config import TrainConfig, preset_train
from omnivec.errors import CheckpointError
from omnivec.hf.folder import HFFolder
from omnivec.nn.tokenizer import TextTokenizer
from omnivec.registry import Registry

Rule = tuple[str, tuple[str, ...]]
"""(omnivec module, HF modules whose ``.weight``/``.bias`` are concatenated along dim 0 to make it)."""


@dataclass
class ImportOptions:
    num_bins: int = 1000
    """BART -> UnIVAL: location tokens ``<bin_0>``... appended to the vocabulary (the reference's 1000)."""


@dataclass
class Imported:
    family: str
    """omnivec (encoders + trunk) or unival (the encoder-decoder)."""
    config: Any
    """The run config (``RunConfig`` or ``UnivalRunConfig``)."""
    state: dict[str, Tensor]
    """Converted tensors, keyed as the model's ``state_dict``; every other parameter keeps its fresh init."""
    tokenizer: TextTokenizer | None = None
    notes: list[str] = field(default_factory=list)
    """What was not converted and why, for the import report."""


@dataclass
class HFExport:
    config: dict[str, Any]
    """``config.json``."""
    state: dict[str, Tensor]
    """Hub-named tensors for ``model.safetensors``."""
    preprocessor: dict[str, Any] = field(default_factory=dict)
    """``preprocessor_config.json`` ({} for none)."""
    notes: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    """The run's tensors the HF folder does not hold (task heads, other modalities' encoders, ...): every key of
    the model's ``state_dict`` the converter never read (:class:`SourceState`)."""


class SourceState(dict[str, Tensor]):
    """A model's ``state_dict`` (float32, on the CPU) that remembers which keys a converter read, so an export can
    say which tensors it leaves behind, always, instead of each converter listing what it thought of."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__({k: v.detach().float().cpu() for k, v in model.state_dict().items()})
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Tensor:
        self.read.add(key)
        return super().__getitem__(key)

    def unread(self) -> list[str]:
        return sorted(k for k in self if k not in self.read)


def dropped_note(dropped: list[str]) -> str:
    """One line naming what an export left behind, grouped by the first two parts of each name
    (``heads.banking77`` (4 tensors)), or saying that nothing was."""
    if not dropped:
        return "every tensor of the run is in the export"
    groups: dict[str, int] = {}
    for key in dropped:
        group = ".".join(key.split(".")[:2])
        groups[group] = groups.get(group, 0) + 1
    listed = ", ".join(f"{g} ({n} tensor{'s' if n > 1 else ''})" for g, n in sorted(groups.items()))
    return f"not exported: {len(dropped)} tensor{'s' if len(dropped) > 1 else ''} of the run: {listed}"


class Converter:
    model_type: ClassVar[str]
    family: ClassVar[str] = "omnivec"
    """The model family the converter imports into and exports from (:data:`omnivec.runs.FAMILY_DESCRIPTIONS`):
    ``to_hf`` is only asked about models of this family."""

    def to_omnivec(self, folder: HFFolder, options: ImportOptions) -> Imported:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_hf(self, model: nn.Module) -> HFExport | None:
        """This model (one of the converter's ``family``) as the HF class's folder, or None when it does not fit
        that class."""
        return None

    tied: ClassVar[dict[str, str]] = {}
    """Tensors the model's run folder stores once (copy -> source): not converted on their own."""

    def build(self, imported: Imported) -> nn.Module:
        """A fresh model of the family the converter imports into (here OmniVec: encoders + trunk, no heads)."""
        from omnivec.nn.model import OmniModel

        return OmniModel(imported.config.model, imported.tokenizer)

    def save(self, model: nn.Module, imported: Imported, out: Path) -> None:
        """Write ``model`` as a run folder of the converter's family."""
        from omnivec.runs import save_run

        save_run(model, imported.config, out)  # type: ignore[arg-type]


CONVERTERS: Registry[type[Converter]] = Registry("Hugging Face model_type")


def converter(folder: HFFolder) -> Converter:
    if folder.model_type not in CONVERTERS:
        raise CheckpointError(
            folder.path / "config.json",
            f"model_type {folder.model_type!r} has no converter; supported: {', '.join(CONVERTERS.names())}",
            "model_type",
        )
    return CONVERTERS.get(folder.model_type)()


def take_rules(folder: HFFolder, rules: list[Rule], own: dict[str, Tensor]) -> dict[str, Tensor]:
    """Apply ``rules`` to the checkpoint: each part's shape is checked against the omnivec parameter it fills
    (``own``: the freshly built model's state dict, sized from ``config.json``)."""
    out: dict[str, Tensor] = {}
    for omni, parts in rules:
        for suffix in (".weight", ".bias"):
            target = own[omni + suffix]
            shape = (target.shape[0] // len(parts), *target.shape[1:])
            out[omni + suffix] = torch.cat([folder.take(p + suffix, shape) for p in parts], dim=0)
    return out


def give_rules(state: dict[str, Tensor], rules: list[Rule]) -> dict[str, Tensor]:
    """The inverse of :func:`take_rules`: omnivec tensors split back into the HF parts."""
    out: dict[str, Tensor] = {}
    for omni, parts in rules:
        for suffix in (".weight", ".bias"):
            for p, chunk in zip(parts, state[omni + suffix].chunk(len(parts), dim=0)):
                out[p + suffix] = chunk.contiguous()
    return out


def layer_rules(depth: int, hf: str, omni: str, table: list[Rule]) -> list[Rule]:
    """``table`` (omnivec suffix, HF suffixes) repeated for layers ``0..depth-1`` under the two prefixes
    (``{i}`` stands for the layer index)."""
    return [
        (omni.format(i=i) + o, tuple(hf.format(i=i) + h for h in parts)) for i in range(depth) for o, parts in table
    ]


VIT_LAYER: list[Rule] = [
    ("norm1", ("layernorm_before",)),
    ("attn.qkv", tuple(f"attention.attention.{n}" for n in ("query", "key", "value"))),
    ("attn.proj", ("attention.output.dense",)),
    ("norm2", ("layernorm_after",)),
    ("mlp.fc1", ("intermediate.dense",)),
    ("mlp.fc2", ("output.dense",)),
]
"""A ViT / ViT-MAE / AST layer (pre-norm, hub names) -> a trunk block."""


def vit_block_rules(depth: int) -> list[Rule]:
    return [*layer_rules(depth, "encoder.layer.{i}.", "trunk.blocks.{i}.", VIT_LAYER), ("trunk.norm", ("layernorm",))]


def fine_tune_schedule() -> TrainConfig:
    """The imported run's schedule: the small preset's at lr 1e-4, a rate for fine-tuning pretrained weights
    rather than training from scratch (the command line's flags override it)."""
    train = preset_train("small")
    train.lr = 1e-4
    return train


def check_plain_gelu(folder: HFFolder, key: str = "hidden_act") -> None:
    """omnivec's MLPs use exact GELU; another activation would silently change every output."""
    from omnivec.hf.folder import require

    require(folder, key, folder.cfg(key, "gelu") == "gelu", "only exact gelu is converted")


def head_dims(folder: HFFolder, width: str, heads: str, ffn: str) -> tuple[int, int, float]:
    """(embed_dim, num_heads, mlp_ratio) from ``config.json``."""
    from omnivec.hf.folder import require

    D, nh, ff = int(folder.cfg(width)), int(folder.cfg(heads)), int(folder.cfg(ffn))
    require(folder, heads, D % nh == 0, f"{width} {D} must be divisible by it")
    return D, nh, ff / D
