"""A local Hugging Face model folder, read without transformers: ``config.json``, the weights
(``model.safetensors``, else ``pytorch_model.bin`` read with ``torch.load(weights_only=True)``, which refuses any
pickle that would run code), ``preprocessor_config.json`` and the tokenizer files.

Converters take tensors out by name (:meth:`HFFolder.take`), so a missing key or a wrong shape is an error naming
the file and the key, and whatever is left untaken is reported as not converted. Keys are read as
``save_pretrained`` writes them (the hub's names); a task model's prefix (``vit.``, ``bert.``, ``model.``,
``audio_spectrogram_transformer.``) is stripped first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from omnivec.errors import CheckpointError

CONFIG_JSON = "config.json"
SAFETENSORS = "model.safetensors"
PICKLE = "pytorch_model.bin"
PREPROCESSOR = "preprocessor_config.json"
BASE_PREFIXES = ("vit.", "bert.", "model.", "audio_spectrogram_transformer.")


def is_hf_folder(path: str | Path) -> bool:
    """A folder with ``config.json`` and no omnivec ``config.yaml``."""
    p = Path(path)
    return (p / CONFIG_JSON).is_file() and not (p / "config.yaml").is_file()


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(path, f"not readable JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(path, f"expected a JSON object, got {type(data).__name__}")
    return data


def read_weights(folder: Path) -> tuple[Path, dict[str, Tensor]]:
    """The folder's weights file and its tensors (float32); a pickle is loaded with ``weights_only=True``."""
    st, pkl = folder / SAFETENSORS, folder / PICKLE
    if st.is_file():
        try:
            state = load_file(str(st))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(st, f"not a valid safetensors file ({e})") from None
        path = st
    elif pkl.is_file():
        try:
            state = torch.load(pkl, map_location="cpu", weights_only=True)
        except Exception as e:  # UnpicklingError for a payload that would run code, RuntimeError for a bad zip
            raise CheckpointError(pkl, f"refused: not a plain tensor checkpoint ({type(e).__name__}: {e})") from None
        if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
            raise CheckpointError(pkl, "expected a mapping of names to tensors")
        path = pkl
    else:
        raise CheckpointError(
            folder, f"no weights: expected {SAFETENSORS} or {PICKLE} (sharded weights: not supported)"
        )
    return path, {str(k): v.float() if v.is_floating_point() else v for k, v in state.items()}


def _strip_prefix(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A task model's keys (``vit.embeddings...``, ``model.encoder...``) as the base model's."""
    for prefix in BASE_PREFIXES:
        if any(k.startswith(prefix) for k in state):
            return {k.removeprefix(prefix): v for k, v in state.items()}
    return state


@dataclass
class HFFolder:
    path: Path
    config: dict[str, Any]
    weights_path: Path
    state: dict[str, Tensor]
    taken: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, path: str | Path) -> HFFolder:
        p = Path(path)
        if not p.is_dir():
            raise CheckpointError(p, "not a folder")
        if not (p / CONFIG_JSON).is_file():
            raise CheckpointError(p, f"not a Hugging Face model folder: it has no {CONFIG_JSON}")
        config = read_json(p / CONFIG_JSON)
        weights_path, state = read_weights(p)
        return cls(p, config, weights_path, _strip_prefix(state))

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))

    def cfg(self, key: str, default: Any = None) -> Any:
        """A ``config.json`` value; without ``default`` a missing one is an error naming the file."""
        if key in self.config:
            return self.config[key]
        if default is None:
            raise CheckpointError(self.path / CONFIG_JSON, "missing", key)
        return default

    def preprocessor(self) -> dict[str, Any]:
        """``preprocessor_config.json`` (image mean/std/size, audio feature settings), or {} without one."""
        p = self.path / PREPROCESSOR
        return read_json(p) if p.is_file() else {}

    def has(self, key: str) -> bool:
        return key in self.state

    def take(self, key: str, shape: tuple[int, ...] | None = None) -> Tensor:
        """The tensor ``key``, checked against ``shape``; missing or misshapen is an error naming file and key."""
        if key not in self.state:
            raise CheckpointError(self.weights_path, "missing from the checkpoint", key)
        t = self.state[key]
        if shape is not None and tuple(t.shape) != tuple(shape):
            raise CheckpointError(
                self.weights_path, f"has shape {tuple(t.shape)}, expected {tuple(shape)} from {CONFIG_JSON}", key
            )
        self.taken.add(key)
        return t

    def left_over(self) -> list[str]:
        """Keys no converter took (task heads, poolers, an MAE decoder): reported as not converted."""
        return sorted(set(self.state) - self.taken)


def require(folder: HFFolder, key: str, ok: bool, expected: str) -> None:
    """A ``config.json`` setting omnivec cannot reproduce is an error naming it, not a silent difference."""
    if not ok:
        raise CheckpointError(
            folder.path / CONFIG_JSON, f"{folder.config.get(key)!r} is not supported ({expected})", key
        )
