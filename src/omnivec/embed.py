"""Export embeddings: files of one modality -> the vectorizer's (N, D) vectors, saved as ``.npy`` (a run of either
family: a UnIVAL model embeds with its shared encoders + trunk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnivec.errors import DataError, OmnivecError
from omnivec.model import OmniModel
from omnivec.types import Modality
from omnivec.unival.model import UnivalModel


def read_input(path: Path, modality: str, model: Any) -> list[Any]:
    """One file -> the samples it holds (a ``.txt`` file holds one text per line)."""
    from omnivec.data import readers

    if not path.is_file():
        raise OmnivecError(f"input file {path} does not exist")
    if modality == Modality.TEXT and path.suffix.lower() in (".txt", ""):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise OmnivecError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise OmnivecError(f"{path}: no text to embed (the file is empty or blank)")
        return lines
    return [readers.read_sample(path, modality, readers.ReadOptions(**model.read_options(modality)))]


def embed_files(model: OmniModel | UnivalModel, modality: str, paths: list[Path], batch_size: int = 64) -> np.ndarray:
    samples: list[Any] = []
    for p in paths:
        try:
            samples.extend(read_input(Path(p), modality, model))
        except DataError as e:
            raise OmnivecError(str(e)) from None
    if not samples:
        raise OmnivecError("no inputs to embed")
    out = [model.embed(modality, samples[i : i + batch_size]) for i in range(0, len(samples), batch_size)]
    vectors = torch.cat(out).cpu()
    if not bool(torch.isfinite(vectors).all()):
        rows = (~torch.isfinite(vectors)).any(1).nonzero().flatten().tolist()
        raise OmnivecError(f"embeddings of {len(rows)} input(s) are not finite (NaN or inf), first at input {rows[0]}")
    return vectors.numpy()
