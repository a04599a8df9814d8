"""Merging the weights of runs that share an architecture.

- :func:`interpolate` — UnIVAL's weight interpolation (arXiv 2307.16184 §6):
  θ = (1−α)·θ_first + α·θ_second between two fine-tunes of one pretrained model; α = 0 and α = 1 give the
  endpoints bit for bit.
- :func:`average` — a uniform (or weighted) soup of N models.
- :func:`task_arithmetic` — θ = θ_pre + scale · Σ_i (θ_i − θ_pre) (Ilharco et al., 2023).
- :func:`ties_merge` — TIES-merging (Yadav et al., 2023): trim every task vector to its top ``density``
  fraction by magnitude, elect a sign per parameter by summed mass, average the values that agree with it.
- :func:`dare_merge` — DARE (Yu et al., 2024, "Language Models are Super Mario"): drop each entry of every task
  vector with probability 1 − ``density`` and rescale the kept ones by 1 / ``density`` (so each task vector is
  unchanged in expectation), then add them as task arithmetic does (mergekit's ``dare_linear``) or, with
  ``elect_sign``, elect signs and take the disjoint mean as TIES does (``dare_ties``). The drops are seeded.

Rules shared by all of them, and where they differ from UnIVAL's averaging script:
- every state must have the same keys, shapes and dtypes, else :class:`OmnivecError` names the offending keys;
- a key matching a ``skip`` pattern (fnmatch, e.g. ``"*.num_batches_tracked"`` or ``"heads.*"``) keeps the
  FIRST state's value unchanged (UnIVAL's script rescaled skipped keys: avg[k] += λ·avg[k]);
- integer and bool tensors (step counters, index buffers) are never interpolated: they keep the first's value;
- floating tensors are combined in float64 and cast back to their dtype.

:func:`merge_runs` applies one of them to run folders and writes a normal run folder; the methods themselves, on
state dicts, live in :mod:`omnivec.api.merge_states`.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from omnivec.api.merge_states import (  # the methods on state dicts, re-exported: callers import them from here
    DEFAULT_DENSITY,
    METHODS,
    TASK_VECTOR_METHODS,
    average,
    check_compatible,
    dare_merge,
    interpolate,
    task_arithmetic,
    ties_merge,
)
from omnivec.config import read_yaml
from omnivec.errors import OmnivecError
from omnivec.training.checkpoint import (
    CONFIG,
    EMA_WEIGHTS,
    TOKENIZER,
    WEIGHTS,
    atomic_folder,
    atomic_write,
    atomic_write_text,
    load_weights,
    save_weights,
)

MERGE_INFO = "merge.json"


# --------------------------------------------------------------------------------------------- run folders


def _load_config(run: Path) -> dict[str, Any]:
    path = run / CONFIG
    if not path.is_file():
        raise OmnivecError(f"{run} is not a run folder: it has no {CONFIG}")
    return read_yaml(path)


def _architecture(config: dict[str, Any]) -> Any:
    """What must match for weights to be mergeable: the model section (the schedule may differ)."""
    return config.get("model", config)


def _class_lists(config: dict[str, Any]) -> dict[str, list[str]]:
    tasks = _architecture(config).get("tasks") or []
    return {t["name"]: list(t.get("class_names") or []) for t in tasks if isinstance(t, dict) and "name" in t}


def _tokenizer_fingerprint(run: Path) -> str:
    from omnivec.nn.tokenizer import file_fingerprint

    path = run / TOKENIZER
    return file_fingerprint(path) if path.is_file() else "none"


def check_same_training(runs: Sequence[Path], configs: Sequence[dict[str, Any]]) -> None:
    """Runs merge only when every weight means the same thing in each: the same class list (names and order)
    per task, the same architecture and the same tokenizer (a token id must stand for the same text). Each
    difference is one error naming both runs and what differs."""
    first, ref = runs[0], configs[0]
    ref_classes, ref_tokenizer = _class_lists(ref), _tokenizer_fingerprint(first)
    for run, config in zip(runs[1:], configs[1:]):
        classes = _class_lists(config)
        for task in sorted(classes.keys() & ref_classes.keys()):
            if classes[task] != ref_classes[task]:
                raise OmnivecError(
                    f"{run} and {first} were trained on different classes for task {task!r} "
                    f"({classes[task]} vs {ref_classes[task]}): their heads cannot be merged"
                )
        if _architecture(config) != _architecture(ref):
            raise OmnivecError(
                f"{run} has a different model config from {first}: "
                "runs can only be merged when they share the architecture"
            )
        tokenizer = _tokenizer_fingerprint(run)
        if tokenizer != ref_tokenizer:
            raise OmnivecError(
                f"{run} and {first} have different tokenizers ({TOKENIZER} fingerprint {tokenizer[:12]} vs "
                f"{ref_tokenizer[:12]}): a token id means different text in each, so they cannot be merged"
            )


def load_run_weights(run: Path, use_ema: bool = False) -> tuple[dict[str, Tensor], str]:
    """A run's weights (its EMA weights if asked for and present) and the file they came from.

    Keys missing from the EMA file (buffers the EMA does not track) are taken from ``model.safetensors``, so
    EMA mode never drops or overwrites the rest of the state.
    """
    state = load_weights(run / WEIGHTS)
    if use_ema and (run / EMA_WEIGHTS).is_file():
        state.update(load_weights(run / EMA_WEIGHTS))
        return state, EMA_WEIGHTS
    return state, WEIGHTS


def _copy(src: Path, dst: Path) -> None:
    def write(tmp: Path) -> None:
        shutil.copyfile(src, tmp)

    atomic_write(dst, write)


def merge_runs(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    method: str = "interpolate",
    alpha: float = 0.5,
    weights: Sequence[float] | None = None,
    pretrained: str | Path | None = None,
    scale: float = 1.0,
    density: float | None = None,
    skip: Sequence[str] = (),
    use_ema: bool = False,
    overwrite: bool = False,
    seed: int = 0,
) -> Path:
    """Merge run folders into ``out_dir``: a normal run folder (config, tokenizer, weights) + ``merge.json``.

    ``interpolate`` takes two runs and ``alpha``; ``average`` N runs and optional ``weights``;
    ``task_arithmetic`` (``scale``), ``ties`` (``density``, ``scale``) and ``dare`` / ``dare_ties`` (``density``,
    ``scale``, ``seed``) take the fine-tuned runs plus the ``pretrained`` run folder they all started from
    (``density`` None: :data:`DEFAULT_DENSITY`). Config and tokenizer are copied from the first run.
    ``out_dir`` must be new or empty; with ``overwrite`` an existing folder is replaced once the merged one is
    complete (:func:`omnivec.training.checkpoint.atomic_folder`).
    """
    runs = [Path(r) for r in run_dirs]
    out = Path(out_dir)
    if method not in METHODS:
        raise OmnivecError(f"unknown merge method {method!r}; expected one of {', '.join(METHODS)}")
    if (method == "interpolate" and len(runs) != 2) or not runs:
        needs = "exactly 2" if method == "interpolate" else "at least 1"
        raise OmnivecError(f"{method} needs {needs} run folders, got {len(runs)}")
    if method in TASK_VECTOR_METHODS and pretrained is None:
        raise OmnivecError(f"{method} needs the pretrained run folder the fine-tunes started from (pretrained=...)")
    if density is not None and method not in DEFAULT_DENSITY:
        raise OmnivecError(f"{method} keeps every entry: density is for {', '.join(DEFAULT_DENSITY)}")
    density = DEFAULT_DENSITY.get(method, 1.0) if density is None else density
    base = [Path(pretrained)] if pretrained is not None and method in TASK_VECTOR_METHODS else []
    every = base + runs
    if out.resolve() in {r.resolve() for r in every}:
        raise OmnivecError(f"output folder {out} is one of the inputs; choose a new folder")
    for name, value in (
        ("alpha", alpha),
        ("scale", scale),
        ("density", density),
        *(("weight", w) for w in weights or []),
    ):
        if not math.isfinite(value):
            raise OmnivecError(f"merge {name}: expected a finite number, got {value}")

    configs = [_load_config(r) for r in every]
    check_same_training(every, configs)
    loaded = [load_run_weights(r, use_ema) for r in every]
    states = [s for s, _ in loaded]
    names = [str(r) for r in every]
    check_compatible(states, names)

    params: dict[str, Any] = {}
    if method == "interpolate":
        merged, params = interpolate(states[0], states[1], alpha, skip), {"alpha": alpha}
    elif method == "average":
        merged, params = average(states, weights, skip), {"weights": list(weights) if weights else None}
    elif method == "task_arithmetic":
        merged, params = task_arithmetic(states[0], states[1:], scale, skip), {"scale": scale}
    elif method == "ties":
        merged = ties_merge(states[0], states[1:], density, scale, skip)
        params = {"density": density, "scale": scale}
    else:
        merged = dare_merge(states[0], states[1:], density, scale, skip, seed, elect_sign=method == "dare_ties")
        params = {"density": density, "scale": scale, "seed": seed}

    first = runs[0]
    info = {
        "method": method,
        "params": params,
        "skip": list(skip),
        "use_ema": use_ema,
        "pretrained": str(base[0]) if base else None,
        "inputs": [{"run": str(r), "weights": f} for r, (_, f) in zip(every, loaded)],
        "config_and_tokenizer_from": str(first),
    }

    def write(folder: Path) -> None:
        _copy(first / CONFIG, folder / CONFIG)
        if (first / TOKENIZER).is_file():
            _copy(first / TOKENIZER, folder / TOKENIZER)
        save_weights(merged, folder / WEIGHTS, metadata={"merge_method": method})
        atomic_write_text(folder / MERGE_INFO, json.dumps(info, indent=2) + "\n")

    # a sibling folder renamed into place at the end: killed part-way, no half run folder is left at out
    atomic_folder(out, write, replace=overwrite)
    return out


def interpolation_grid(num_points: int = 6) -> list[float]:
    """UnIVAL's grid of α values: 0, 0.2, …, 1 for 6 points."""
    if num_points < 2:
        raise OmnivecError(f"an interpolation grid needs at least 2 points, got {num_points}")
    return [round(i / (num_points - 1), 12) for i in range(num_points)]


__all__ = [
    "METHODS",
    "average",
    "check_compatible",
    "check_same_training",
    "dare_merge",
    "interpolate",
    "interpolation_grid",
    "load_run_weights",
    "merge_runs",
    "task_arithmetic",
    "ties_merge",
]
