"""Configs to and from plain data (YAML's mappings and lists): :func:`from_dict` builds any config dataclass,
checking names and types so a bad value names its field, and :func:`to_dict` writes one back. An encoder's config
(``ModelConfig.encoders``) is read as the dataclass its ``name`` registered (:mod:`omnivec.config.encoder`)."""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from typing import Any, TypeVar

from omnivec.config.encoder import EncoderConfig
from omnivec.errors import OmnivecError

T = TypeVar("T")


def to_dict(cfg: Any) -> Any:
    """A config dataclass (and everything in it) as plain data; encoder configs as :meth:`EncoderConfig.to_dict`
    writes them. The values are copies, as :func:`dataclasses.asdict`'s."""
    if isinstance(cfg, EncoderConfig):
        return cfg.to_dict()
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(to_dict(v) for v in cfg)
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    return copy.deepcopy(cfg)


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build a dataclass from plain data, checking names and types, so a bad value names its field. With
    ``cls`` :class:`EncoderConfig`, ``data["name"]`` picks the registered encoder whose config is built."""
    if not isinstance(data, dict):
        if cls is EncoderConfig:
            raise OmnivecError(f"{where or 'encoder'}: expected a mapping of encoder fields, got {data!r}")
        raise OmnivecError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    if cls is EncoderConfig:
        return _encoder_config(data, where)  # type: ignore[return-value]
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise OmnivecError(f"{where or cls.__name__}: unknown field(s) {unknown}; expected some of {sorted(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        out = cls(**kwargs)
    except TypeError as e:
        raise OmnivecError(f"{where or cls.__name__}: {e}") from None
    from omnivec.config.validate import check_config

    check_config(out, where)
    return out


def _encoder_config(spec: dict[str, Any], where: str) -> EncoderConfig:
    """``{"name": registered encoder, **its config's fields}`` -> that encoder's config dataclass."""
    from omnivec.nn.encoders import ENCODERS

    where = where or "encoder"
    fields = {k: v for k, v in spec.items() if k != "name"}
    name = spec.get("name")
    if not name:
        raise OmnivecError(f"{where}: missing 'name'; expected one of {ENCODERS.names()}")
    try:
        cls = ENCODERS.get(name).Config
    except (KeyError, TypeError) as e:
        raise OmnivecError(f"{where}: {e.args[0]}") from None
    out = from_dict(cls, fields, where=where)
    object.__setattr__(out, "given", tuple(spec))  # written back in the order read (EncoderConfig.to_dict)
    return out


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)  # type: ignore[arg-type]
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise OmnivecError(f"{where}: expected a list, got {value!r}")
        return [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise OmnivecError(f"{where}: expected a mapping, got {value!r}")
        _, item = typing.get_args(tp)
        if item is EncoderConfig:
            return {k: from_dict(EncoderConfig, v, f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (tp in (int, float, str, bool) and not isinstance(value, tp)) or (tp is int and isinstance(value, bool)):
        raise OmnivecError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value
