"""Pretrained weights from local Hugging Face folders (ViT, ViT-MAE, BERT, BART, AST), and the way back.

Importing this package registers one converter per ``model_type`` (``hf/<name>.py``); transformers is never
imported: converters read ``config.json`` and the weights themselves (docs/pretrained.md)."""

from omnivec.hf import ast, bart, bert, vit  # noqa: F401  (registration side effects)
from omnivec.hf.base import CONVERTERS, ImportOptions
from omnivec.hf.folder import is_hf_folder
from omnivec.hf.importer import ImportReport, import_hf, load_hf

__all__ = ["CONVERTERS", "ImportOptions", "ImportReport", "import_hf", "is_hf_folder", "load_hf"]
