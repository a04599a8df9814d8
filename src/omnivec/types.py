"""Shared contracts: the modality keys, what every encoder hands to the trunk, and moving a batch of them to a
device (:func:`to_device`).

Every encoder maps its raw input to :class:`Tokens` — ``x`` of shape (B, N, D) in the one shared width, a padding
mask, and the grid its tokens came from (so dense heads and masked-reconstruction targets can undo the patching).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

import torch
from torch import Tensor


class Modality(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"
    POINTS = "points"


class Tokens(NamedTuple):
    """An encoder's output.

    x: (B, N, D) tokens, positions and modality embedding already added.
    pad_mask: (B, N) bool, True where a token is padding; None when no sample is padded.
    grid: the token grid shape for patch-like inputs, e.g. (H/p, W/p) for images, (T/t, H/p, W/p) for video,
        (F/pf, T/pt) for audio spectrograms; empty for sets (points) and sequences (text).
    skips: a convolutional encoder's feature maps, finest first ((B, C_i, *S_i) each), for dense heads that
        decode at full resolution; empty for other encoders.
    size: the input's spatial size before the encoder padded it to whole tokens (dense heads crop back to it);
        empty when nothing was padded or the input has no spatial axes.
    """

    x: Tensor
    pad_mask: Tensor | None
    grid: tuple[int, ...] = ()
    skips: tuple[Tensor, ...] = ()
    size: tuple[int, ...] = ()


class EncoderInput(NamedTuple):
    """A collated batch for one encoder: a dense tensor plus the valid length of each sample along its
    variable axis (audio samples, text tokens); ``lengths`` is None for fixed-size inputs."""

    data: Tensor
    lengths: Tensor | None = None


def to_device(batch: Any, device: torch.device) -> Any:
    """Move the tensors of a batch (tensors, named tuples, tuples, lists, dicts of them) to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(b, device) for b in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch
