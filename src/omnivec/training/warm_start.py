"""``--init PATH_OR_RUN``: start a new run from another model's weights (a run folder or a Hugging Face folder).

The new model takes its encoders' and trunk's architecture from the source (so the weights fit) and its task
heads from the command; every tensor whose name and shape match is copied, and the report says what was loaded,
what starts fresh (the new heads) and what did not fit, so nothing is silently half-initialised.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from omnivec.config import ModelConfig, RunConfig
from omnivec.errors import OmnivecError
from omnivec.nn.model import OmniModel
from omnivec.nn.tokenizer import TextTokenizer


@dataclass
class WarmStart:
    source: str
    loaded: list[str]
    """Tensors copied from the source."""
    fresh: list[str]
    """Tensors of the new model the source has no match for (new task heads)."""
    mismatched: list[str]
    """Same name, different shape: left fresh."""

    def summary(self) -> str:
        heads = sorted({k.split(".")[1] for k in self.fresh if k.startswith("heads.")})
        others = [k for k in self.fresh if not k.startswith("heads.")]
        parts = [f"initialised {len(self.loaded)} tensors from {self.source}"]
        if heads:
            parts.append(f"new task heads: {', '.join(heads)}")
        if others:
            parts.append(f"fresh: {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}")
        if self.mismatched:
            parts.append(f"shape mismatch (fresh): {', '.join(self.mismatched[:5])}")
        return "; ".join(parts)


def source_model(path: str | Path) -> tuple[OmniModel, RunConfig]:
    """The OmniVec model and config of a run folder, or of a Hugging Face folder converted in memory; the other
    family is refused in one line, as :func:`omnivec.runs.load_run` refuses it."""
    from omnivec.hf.folder import is_hf_folder
    from omnivec.runs import load_run, require_model_family

    if not is_hf_folder(path):
        return load_run(path)
    from omnivec.hf import load_hf

    model = load_hf(path)
    require_model_family(model, "omnivec", path, "; start `omnivec unival finetune` from it")
    return model, model.run_config  # type: ignore[return-value]


TRAINING_FIELDS = ("label_smoothing",)
"""Fields of the model config that are settings of a training run, not of the architecture: a run started from
another model's weights (``--init``, ``finetune RUN``) keeps its own."""


def keep_training_fields(model_cfg: ModelConfig, run_cfg: RunConfig) -> None:
    """Set ``model_cfg``'s :data:`TRAINING_FIELDS` to ``run_cfg.model``'s (the command's)."""
    for name in TRAINING_FIELDS:
        setattr(model_cfg, name, getattr(run_cfg.model, name))


def adopt(init: str | Path | None, run_cfg: RunConfig) -> OmniModel | None:
    """The ``--init`` source, loaded before the run is seeded, with its encoders and trunk (no task heads)
    given to ``run_cfg.model``, which keeps its own :data:`TRAINING_FIELDS`; None without ``--init``."""
    if init is None:
        return None
    source, _ = source_model(init)
    model = copy.deepcopy(source.cfg)
    keep_training_fields(model, run_cfg)
    run_cfg.model = model
    run_cfg.model.tasks = []
    return source


def new_model(
    cfg: ModelConfig, source: OmniModel | None, fresh_tokenizer: Callable[[], TextTokenizer | None]
) -> OmniModel:
    """A fresh model of ``cfg``: with the source's tokenizer (its embedding rows mean that tokenizer's ids), or
    one ``fresh_tokenizer`` trains, without a source."""
    return OmniModel(cfg, source.tokenizer if source is not None else fresh_tokenizer())


def copy_matching(model: nn.Module, source: nn.Module, name: str) -> WarmStart:
    """Copy every tensor of ``source`` whose name and shape ``model`` shares; refuse when none fits."""
    own, src = model.state_dict(), source.state_dict()
    loaded = sorted(k for k in own if k in src and own[k].shape == src[k].shape)
    mismatched = sorted(k for k in own if k in src and own[k].shape != src[k].shape)
    if not loaded:
        raise OmnivecError(f"--init {name}: no tensor of it matches the model by name and shape")
    model.load_state_dict({**own, **{k: src[k] for k in loaded}})
    return WarmStart(name, loaded, sorted(set(own) - set(src)), mismatched)
