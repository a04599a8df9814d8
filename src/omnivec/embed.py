"""Export embeddings: files of one modality -> the vectorizer's (N, D) vectors, saved as ``.npy``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnivec.errors import DataError, OmnivecError
from omnivec.model import OmniModel
from omnivec.types import Modality


def read_input(path: Path, modality: str, model: OmniModel) -> list[Any]:
    """One file -> the samples it holds (a ``.txt`` file holds one text per line)."""
    from omnivec.data import readers

    if not path.is_file():
        raise OmnivecError(f"input file {path} does not exist")
    if modality == Modality.TEXT and path.suffix.lower() in (".txt", ""):
        return [line for line in path.read_text().splitlines() if line.strip()]
    return [readers.read_sample(path, Modality(modality), read_options(model))]


def read_options(model: OmniModel) -> Any:
    """How files must be decoded to fit this model's encoders (sample rate, point count)."""
    from omnivec.data.readers import ReadOptions

    kw: dict[str, Any] = {}
    if Modality.AUDIO in model.encoders:
        kw["sample_rate"] = int(model.encoder(Modality.AUDIO).cfg.sample_rate)
    if Modality.POINTS in model.encoders:
        kw["num_points"] = int(model.encoder(Modality.POINTS).cfg.num_points)
    return ReadOptions(**kw)


def embed_files(model: OmniModel, modality: str, paths: list[Path], batch_size: int = 64) -> np.ndarray:
    samples: list[Any] = []
    for p in paths:
        try:
            samples.extend(read_input(Path(p), modality, model))
        except DataError as e:
            raise OmnivecError(str(e)) from None
    if not samples:
        raise OmnivecError("no inputs to embed")
    out = [model.embed(modality, samples[i : i + batch_size]) for i in range(0, len(samples), batch_size)]
    return torch.cat(out).cpu().numpy()
