"""A config as commented YAML (``omnivec config show``): every field with its docstring above it."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

import yaml

from omnivec.config import field_docs
from omnivec.config.encoder import EncoderConfig


def commented_yaml(cfg: Any) -> str:
    """``cfg`` as YAML with every field's docstring as a comment above it (``omnivec config show``): a complete
    config to copy and edit. Encoder configs are written in full, every field documented too."""
    lines: list[str] = []
    _emit(cfg, lines, 0)
    return "\n".join(lines) + "\n"


def _comment(lines: list[str], doc: str, indent: int) -> None:
    pad = " " * indent
    for row in textwrap.wrap(doc, 116 - indent):
        lines.append(f"{pad}# {row}")


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def _emit(obj: Any, lines: list[str], indent: int) -> None:
    pad = " " * indent
    docs = field_docs(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name in docs:
            _comment(lines, docs[f.name], indent)
        if dataclasses.is_dataclass(value):
            lines.append(f"{pad}{f.name}:")
            _emit(value, lines, indent + 2)
        elif f.name == "encoders" and isinstance(value, dict) and value:
            lines.append(f"{pad}{f.name}:")
            for modality, spec in value.items():
                lines.append(f"{pad}  {modality}:")
                _emit_encoder(spec, lines, indent + 4)
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            lines.append(f"{pad}{f.name}:")
            for item in value:
                body: list[str] = []
                _emit(item, body, indent + 4)
                first = next(i for i, b in enumerate(body) if not b.lstrip().startswith("#"))
                body[first] = f"{pad}  - {body[first].lstrip()}"
                lines.extend(body)
        elif isinstance(value, dict) and value:
            dumped = yaml.safe_dump({f.name: value}, sort_keys=False).rstrip().splitlines()
            lines.extend(pad + row for row in dumped)
        else:
            lines.append(f"{pad}{f.name}: {_scalar(value)}")


def _emit_encoder(cfg: EncoderConfig, lines: list[str], indent: int) -> None:
    _comment(lines, "registered encoder (omnivec.nn.encoders)", indent)
    lines.append(f"{' ' * indent}name: {cfg.name}")
    _emit(cfg, lines, indent)
