"""``omnivec export RUN --format hf --out DIR``: a run as a folder transformers loads (``from_pretrained``), where
a transformers class computes the same function: ``config.json``, ``model.safetensors``, the tokenizer files and
``preprocessor_config.json``. A ViT-shaped image model becomes ``ViTModel``, a BERT-shaped text model ``BertModel``,
a BART-shaped encoder-decoder ``BartForConditionalGeneration``; a run that fits none (our own stems, sine-cosine
positions, several modalities...) is written as an omnivec run folder instead, and the report says why.

The folder is written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import nn

from omnivec.hf.base import CONVERTERS, HFExport, dropped_note
from omnivec.hf.folder import CONFIG_JSON, PREPROCESSOR, SAFETENSORS
from omnivec.nn.tokenizer import TextTokenizer
from omnivec.training import checkpoint as ckpt


@dataclass
class HFExportReport:
    out: Path
    format: str
    """hf (a transformers folder) or omnivec (no transformers class fits; an omnivec run folder)."""
    architecture: str = ""
    notes: list[str] = field(default_factory=list)


def as_hf(model: nn.Module) -> HFExport | None:
    """The first converter of the model's family whose HF class holds ``model``."""
    for name in CONVERTERS.names():
        conv = CONVERTERS.get(name)
        export = conv().to_hf(model) if conv.family == getattr(model, "family", None) else None
        if export is not None:
            return export
    return None


def _tokenizer_files(tokenizer: TextTokenizer, dirname: Path, model_type: str) -> None:
    tokenizer.save(dirname / "tokenizer.json")
    tk = tokenizer.tk
    names = {"pad_token": tokenizer.pad_id, "unk_token": tokenizer.unk_id, "mask_token": tokenizer.mask_id}
    if model_type == "bert":
        names.update(cls_token=tokenizer.bos_id, sep_token=tokenizer.eos_id)
    else:
        names.update(bos_token=tokenizer.bos_id, eos_token=tokenizer.eos_id)
    config: dict[str, Any] = {k: tk.id_to_token(i) for k, i in names.items()}
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    (dirname / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def _write(export: HFExport, model: nn.Module, dirname: Path) -> None:
    (dirname / CONFIG_JSON).write_text(json.dumps(export.config, indent=2))
    tensors = {k: v.detach().float().contiguous().clone() for k, v in export.state.items()}
    save_file(tensors, str(dirname / SAFETENSORS), metadata={"format": "pt"})
    if export.preprocessor:
        (dirname / PREPROCESSOR).write_text(json.dumps(export.preprocessor, indent=2))
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        _tokenizer_files(tokenizer, dirname, str(export.config["model_type"]))


def export_hf(run: str | Path, out: str | Path) -> HFExportReport:
    from omnivec.api.load import load_any

    out = Path(out)
    ckpt.require_new_folder(out)
    model, _ = load_any(run)
    export = as_hf(model)
    if export is not None:
        ckpt.atomic_folder(out, lambda tmp: _write(export, model, tmp))
        return HFExportReport(
            out, "hf", export.config["architectures"][0], [*export.notes, dropped_note(export.dropped)]
        )

    def copy_run(tmp: Path) -> None:
        for name in (ckpt.CONFIG, ckpt.WEIGHTS, ckpt.TOKENIZER):
            if (Path(run) / name).is_file():
                shutil.copy2(Path(run) / name, tmp / name)

    ckpt.atomic_folder(out, copy_run)
    why = "no transformers class computes this model (it is not ViT-, BERT- or BART-shaped)"
    return HFExportReport(out, "omnivec", "", [f"{why}: wrote an omnivec run folder"])
