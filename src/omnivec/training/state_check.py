"""Checking a training state, or a weights file, against what it is loaded into, before anything uses it.

``torch.load(weights_only=True)`` guarantees a ``train_state.pt`` runs no code, not that its tensors fit: an
undersized Adam moment passes it and the fused AdamW kernel then writes out of bounds (NaN loss, then a
segfault). :func:`check_train_state` compares every entry with the live optimizer, model parameters, streams and
RNG -- the keys, the counts, each tensor's shape and dtype, each counter's type and range -- and raises one
:class:`OmnivecError` naming the file and the key before any of it is applied. :func:`check_weights` does the
same for a weights file against a module's ``state_dict()``: ``load_state_dict`` checks keys and shapes but copies
an int32 tensor into a float weight without a word (casting it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from omnivec.errors import OmnivecError

ADAM_KEYS = {"step", "exp_avg", "exp_avg_sq"}


def _fail(path: Path, key: str, expected: str, got: object) -> OmnivecError:
    return OmnivecError(f"{path}: {key}: expected {expected}, got {got}")


def _describe(x: object) -> str:
    if isinstance(x, Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)}"
    return f"{type(x).__name__} {x!r}"[:80]


def _count(state: Mapping[str, Any], key: str, path: Path, cls: type = int, prefix: str = "") -> None:
    value = state.get(key)
    ok = isinstance(value, cls) and not isinstance(value, bool)
    if cls is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0:  # type: ignore[operator]
        got = _describe(value) if key in state else "nothing"
        raise _fail(path, prefix + key, f"a non-negative {cls.__name__}", got)


def check_train_state(
    state: Mapping[str, Any],
    optimizer: torch.optim.Optimizer,
    streams: Mapping[str, Any],
    path: Path,
) -> None:
    """Refuse ``state`` unless it fits ``optimizer`` (its groups and parameters) and ``streams`` exactly."""
    for key in ("step", "samples"):
        _count(state, key, path)
    _count(state, "elapsed", path, float)
    _check_rng(state, path)
    _check_streams(state.get("streams"), streams, path)
    _check_optimizer(state.get("optimizer"), optimizer, path)


def _check_rng(state: Mapping[str, Any], path: Path) -> None:
    own = torch.get_rng_state()
    rng = state.get("rng_cpu")
    if not isinstance(rng, Tensor) or rng.dtype != own.dtype or rng.shape != own.shape:
        raise _fail(path, "rng_cpu", f"a {own.dtype} tensor of shape {tuple(own.shape)}", _describe(rng))
    cuda = state.get("rng_cuda", [])
    if not isinstance(cuda, list) or not all(isinstance(t, Tensor) and t.dtype == torch.uint8 for t in cuda):
        raise _fail(path, "rng_cuda", "a list of uint8 tensors", _describe(cuda))


def _check_streams(saved: Any, streams: Mapping[str, Any], path: Path) -> None:
    if not isinstance(saved, dict):
        raise _fail(path, "streams", "a mapping of stream name -> {epoch, position}", _describe(saved))
    for name, pos in saved.items():
        if name not in streams:
            continue  # a stream the resumed run no longer has (it restarts nothing)
        if not isinstance(pos, dict):
            raise _fail(path, f"streams.{name}", "{epoch, position}", _describe(pos))
        for key in ("epoch", "position"):
            _count(pos, key, path, prefix=f"streams.{name}.")
        if "world_size" in pos:  # absent from states written before runs could change their number of ranks
            _count(pos, "world_size", path, prefix=f"streams.{name}.")
            if pos["world_size"] < 1:
                raise _fail(path, f"streams.{name}.world_size", "at least 1", pos["world_size"])


def _check_optimizer(saved: Any, optimizer: torch.optim.Optimizer, path: Path) -> None:
    if not isinstance(saved, dict) or not isinstance(saved.get("param_groups"), list):
        raise _fail(path, "optimizer", "an optimizer state {state, param_groups}", _describe(saved))
    own = optimizer.state_dict()
    groups, own_groups = saved["param_groups"], own["param_groups"]
    if len(groups) != len(own_groups):
        raise _fail(path, "optimizer.param_groups", f"{len(own_groups)} groups", f"{len(groups)}")
    params: dict[int, Tensor] = {}
    for i, (g, og) in enumerate(zip(groups, own_groups)):
        where = f"optimizer.param_groups[{i}]"
        if not isinstance(g, dict) or set(g) != set(og):
            got = sorted(g) if isinstance(g, dict) else _describe(g)
            raise _fail(path, where, f"the keys {sorted(og)}", got)
        if g["params"] != og["params"]:
            raise _fail(path, f"{where}.params", f"{len(og['params'])} parameters", f"{len(g['params'])}")
        for k, v in g.items():
            if k != "params" and isinstance(og[k], float) and not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise _fail(path, f"{where}.{k}", "a finite number", _describe(v))
    for group, idx in zip(optimizer.param_groups, (g["params"] for g in own_groups)):
        params.update(zip(idx, group["params"]))
    entries = saved.get("state")
    if not isinstance(entries, dict):
        raise _fail(path, "optimizer.state", "a mapping of parameter index -> moments", _describe(entries))
    for idx, entry in entries.items():
        _check_moments(idx, entry, params, path)


def _check_moments(idx: Any, entry: Any, params: dict[int, Tensor], path: Path) -> None:
    where = f"optimizer.state[{idx!r}]"
    if idx not in params:
        raise _fail(path, where, f"a parameter index in 0..{len(params) - 1}", _describe(idx))
    if not isinstance(entry, dict) or set(entry) - {"max_exp_avg_sq"} != ADAM_KEYS:
        raise _fail(path, where, f"the AdamW moments {sorted(ADAM_KEYS)}", _describe(entry))
    p = params[idx]
    for key in sorted(set(entry) - {"step"}):
        t = entry[key]
        if not isinstance(t, Tensor) or t.shape != p.shape or t.dtype != p.dtype:
            raise _fail(path, f"{where}.{key}", f"a {p.dtype} tensor of shape {tuple(p.shape)}", _describe(t))
        if not bool(torch.isfinite(t).all()):
            raise _fail(path, f"{where}.{key}", "finite values", "NaN or inf")
    step = entry["step"]
    if not isinstance(step, Tensor) or step.numel() != 1 or not step.is_floating_point():
        raise _fail(path, f"{where}.step", "a one-element float tensor", _describe(step))
    if not math.isfinite(float(step)) or float(step) < 0:
        raise _fail(path, f"{where}.step", "a non-negative finite count", float(step))


def check_weights(state: Mapping[str, Tensor], own: Mapping[str, Tensor], path: Path, against: str) -> None:
    """Refuse weights ``state`` unless they have exactly ``own``'s keys, and each tensor its shape and dtype;
    ``against`` names what they must match (``config.yaml``, the model)."""
    both = sorted(set(own) & set(state))
    found = {
        "missing": sorted(set(own) - set(state)),
        "unexpected": sorted(set(state) - set(own)),
        "shape mismatch": [
            f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in both if own[k].shape != state[k].shape
        ],
        "dtype mismatch": [f"{k} {state[k].dtype} != {own[k].dtype}" for k in both if own[k].dtype != state[k].dtype],
    }
    if any(found.values()):
        said = ", ".join(f"{what} {keys[:5]}" for what, keys in found.items() if keys)
        raise OmnivecError(f"{path} does not match {against}: {said}")


__all__ = ["check_train_state", "check_weights"]
