"""``omnivec.load``: the model of any folder, whichever family wrote it (an OmniVec or a UnIVAL run folder, or a
Hugging Face model folder converted on the fly). It sits above the families: :mod:`omnivec.runs` reads and
writes run folders, and each family's loader builds on it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omnivec.config import RunConfig
from omnivec.nn.model import OmniModel
from omnivec.training import checkpoint as ckpt

if TYPE_CHECKING:
    import torch

    from omnivec.families.unival.config import UnivalRunConfig
    from omnivec.families.unival.model import UnivalModel


def load_any(
    run_dir: str | Path, weights: str = ckpt.WEIGHTS
) -> tuple[OmniModel | UnivalModel, RunConfig | UnivalRunConfig]:
    """The model of a run folder of either family, and its config; a Hugging Face model folder (config.json,
    no config.yaml) is converted in memory (:mod:`omnivec.hf`)."""
    from omnivec.hf.folder import is_hf_folder

    if is_hf_folder(run_dir):
        from omnivec.hf import load_hf

        model = load_hf(run_dir)
        return model, model.run_config  # type: ignore[return-value]
    from omnivec.families.registry import family_of_run

    return family_of_run(run_dir).load(run_dir, weights)


def load(
    path: str | Path, device: str | torch.device | None = "auto", weights: str = ckpt.WEIGHTS
) -> OmniModel | UnivalModel:
    """``omnivec.load(run_dir)``: the trained model of either family, in eval mode, on ``device`` (auto: CUDA
    when present), with ``run_config`` and ``run_dir`` attached. ``path`` may also be a local Hugging Face
    folder of a supported ``model_type`` (docs/pretrained.md), converted on the fly."""
    from omnivec.training.device import resolve_device

    model, cfg = load_any(path, weights)
    model.run_config = cfg  # type: ignore[assignment]
    model.run_dir = Path(path)  # type: ignore[assignment]
    return model.to(resolve_device(device))
