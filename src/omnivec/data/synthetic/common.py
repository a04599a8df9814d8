"""Helpers shared by the built-in generated datasets: seeding, balanced labels, compact pixel storage.

Every generator draws from one ``numpy.random.Generator`` derived from (generator name, split, seed), so a
split is byte-identical across runs and machines, and train and test never share a stream.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import overload

import numpy as np
import torch
from torch import Tensor


def split_rng(name: str, split: str, seed: int) -> np.random.Generator:
    """A generator for one (dataset, split, seed).

    ``zlib.crc32`` rather than ``hash()``: Python salts string hashes per process, which would break
    determinism. The dataset name is mixed in too, so two generators given one seed draw different numbers.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng([seed, zlib.crc32(name.encode()), zlib.crc32(split.encode())])


def balanced_labels(rng: np.random.Generator, num_samples: int, num_classes: int) -> np.ndarray:
    """Labels whose class counts differ by at most one, in random order (so chance level is exactly 1/K)."""
    return rng.permutation(np.arange(num_samples) % num_classes)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Quantise [0, 1] floats to bytes: a quarter of the memory (2000 clips of video: ~50 MB, not 200)."""
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


class ByteImages(Sequence[Tensor]):
    """Stacked uint8 pixels handing out float32 [0, 1] tensors one at a time, as the data contract asks."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = torch.from_numpy(np.ascontiguousarray(data))

    def __len__(self) -> int:
        return self.data.shape[0]

    @overload
    def __getitem__(self, i: int) -> Tensor: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Tensor]: ...
    def __getitem__(self, i: int | slice) -> Tensor | Sequence[Tensor]:
        if isinstance(i, slice):
            return ByteImages(self.data[i].numpy())
        return self.data[i].to(torch.float32) / 255.0
