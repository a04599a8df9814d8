"""omnivec: unified multimodal models (OmniVec, UnIVAL) — one trunk for image, video, audio, text and 3-D points.

``omnivec.load(run_dir)`` gives back a trained model; see the README for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from omnivec.model import OmniModel


def load(path: Any) -> OmniModel:
    """The model saved in a run folder, in eval mode, with its ``run_config`` attached."""
    from omnivec.run import load as _load

    return _load(path)


__all__ = ["__version__", "load"]
