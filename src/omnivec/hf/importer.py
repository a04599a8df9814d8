"""``omnivec import PATH --out RUN``: a local Hugging Face folder -> an ordinary omnivec run folder (no task
heads), ready for ``train --init``, ``finetune`` or ``unival finetune``; and ``omnivec.load(PATH)`` on the folder
itself.

Everything is checked before anything is written: the converter takes every tensor it needs by name and shape,
the model is built and loaded strictly, and the run folder is written to a temporary sibling and renamed into
place, so a bad checkpoint leaves no ``--out`` behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from omnivec.errors import OmnivecError
from omnivec.hf.base import Imported, ImportOptions, converter
from omnivec.hf.folder import HFFolder
from omnivec.training.checkpoint import atomic_folder, require_new_folder

REPORT = "imported.json"
"""Written into the run folder: where the weights came from and what was not converted."""


@dataclass
class ImportReport:
    out: Path
    family: str
    model_type: str
    converted: int
    """Tensors of the model filled from the checkpoint."""
    fresh: list[str]
    """Model tensors with no counterpart in the checkpoint (initialised as a new model's)."""
    not_converted: list[str]
    """Checkpoint tensors no part of the model takes (poolers, task heads, an MAE decoder)."""
    notes: list[str]


def convert(path: str | Path, options: ImportOptions | None = None) -> tuple[nn.Module, Imported, HFFolder]:
    """The converted model (eval mode), what the converter returned, and the folder it read."""
    folder = HFFolder.read(path)
    imported = converter(folder).to_omnivec(folder, options or ImportOptions())
    model = converter(folder).build(imported)
    own = model.state_dict()
    for key, value in imported.state.items():
        if key not in own or tuple(own[key].shape) != tuple(value.shape):  # a converter bug, not a user error
            raise OmnivecError(f"converter for {folder.model_type} made {key} {tuple(value.shape)}; model has "
                               f"{tuple(own[key].shape) if key in own else 'no such key'}")  # fmt: skip
    model.load_state_dict({**own, **imported.state})
    model.eval()
    return model, imported, folder


def import_hf(path: str | Path, out: str | Path, options: ImportOptions | None = None) -> ImportReport:
    """Convert the folder ``path`` into the run folder ``out`` (which must not exist, or be empty)."""
    out = Path(out)
    require_new_folder(out)  # before the conversion, which may take a while
    model, imported, folder = convert(path, options)
    own = set(model.state_dict()) - set(converter(folder).tied)  # a tied copy is not a tensor of its own
    report = ImportReport(
        out, imported.family, folder.model_type, len(imported.state), sorted(own - set(imported.state)),
        folder.left_over(), imported.notes,
    )  # fmt: skip
    meta = {
        "source": str(Path(path).resolve()),
        "weights": folder.weights_path.name,
        "model_type": folder.model_type,
        "not_converted": report.not_converted,
        "notes": report.notes,
    }

    def write(tmp: Path) -> None:
        converter(folder).save(model, imported, tmp)
        (tmp / REPORT).write_text(json.dumps(meta, indent=2))

    atomic_folder(out, write)
    return report


def load_hf(path: str | Path) -> nn.Module:
    """``omnivec.load`` on a Hugging Face folder: the converted model, in memory (nothing written)."""
    model, imported, _ = convert(path)
    model.run_config = imported.config
    return model
