"""Run folders and atomic writes.

A run folder holds ``config.yaml`` (the resolved :class:`RunConfig`), ``model.safetensors``, ``tokenizer.json`` and
``train_state.pt`` (optimizer, scheduler, RNG and data positions, loaded with ``weights_only=True``). Every file
is written to a temporary name in the same folder and renamed into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from omnivec.errors import OmnivecError

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
EMA_WEIGHTS = "ema.safetensors"
TOKENIZER = "tokenizer.json"
TRAIN_STATE = "train_state.pt"
METRICS = "metrics.jsonl"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, then rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def require_new_folder(out: Path) -> None:
    """``out`` must not exist, or be an empty folder: a command that writes a whole folder never mixes its files
    with another run's."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OmnivecError(f"--out {out} already exists and is not empty; choose a new folder")


def atomic_folder(out: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary folder beside ``out``, then rename it onto ``out`` (new or empty): a
    failure part-way leaves no ``out`` behind."""
    require_new_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        write(tmp)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    def write(p: Path) -> None:
        p.write_text(text)

    atomic_write(path, write)


def save_weights(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    # safetensors refuses shared storage; contiguous clones keep tied weights saveable.
    tensors = {k: v.detach().contiguous().clone() for k, v in state.items()}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=metadata))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """safetensors only: a file that is not one (a pickle, say) is refused, never unpickled."""
    path = Path(path)
    if not path.is_file():
        raise OmnivecError(f"weights file {path} does not exist")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise OmnivecError(f"{path}: not a valid safetensors file ({e})") from None


def save_state(state: dict[str, Any], path: Path) -> None:
    atomic_write(path, lambda p: torch.save(state, p))


def load_state(path: Path) -> dict[str, Any]:
    """Training state (optimizer, scheduler, RNG): tensors and plain containers only."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError or RuntimeError for refused payloads
        raise OmnivecError(f"{path}: refused to load training state ({type(e).__name__}: {e})") from None
