"""omnivec: unified multimodal models (OmniVec, UnIVAL) — one trunk for image, video, audio, text and 3-D points.

``omnivec.load(run_dir)`` gives back the trained model of any run folder (an ``OmniModel`` or, for a UnIVAL run, a
``UnivalModel``); see the README for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from omnivec.families.unival.model import UnivalModel
    from omnivec.nn.model import OmniModel


def load(path: Any, device: Any = "auto") -> OmniModel | UnivalModel:
    """The model saved in a run folder of either family, in eval mode, on ``device`` (auto: CUDA when present),
    with its ``run_config`` attached. Both families have ``embed(modality, inputs)`` and ``predict(task,
    inputs)`` (inputs: raw samples or file paths); a UnIVAL model also has ``generate``."""
    from omnivec.api.load import load as _load

    return _load(path, device)


__all__ = ["__version__", "load"]
