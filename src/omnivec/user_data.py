"""Your own data on a run config: ``train --train DIR`` / ``finetune --train DIR`` add a bring-your-own task
(:func:`add_byo`); ``evaluate --data DIR`` scores a classification head on a folder or manifest
(:func:`user_eval_set`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omnivec.config import RunConfig
from omnivec.errors import OmnivecError


def add_byo(cfg: RunConfig, train: str, val: str = "", modality: str = "") -> str:
    """Add a bring-your-own task for ``train`` (and ``val``) to ``cfg``; returns its task name."""
    from omnivec.data.byo import byo_name, byo_spec

    if not Path(train).exists():
        raise OmnivecError(f"--train {train}: no such folder or manifest")
    if val and not Path(val).exists():
        raise OmnivecError(f"--val {val}: no such folder or manifest")
    name = byo_name(train)
    if name in cfg.tasks and name not in cfg.byo:
        raise OmnivecError(f"--train {train}: task name {name!r} clashes with a catalogue task; rename the folder")
    cfg.byo[name] = byo_spec(train, val, modality)
    if name not in cfg.tasks:
        cfg.tasks = [*cfg.tasks, name]
    return name


def user_eval_set(model: Any, cfg: RunConfig, names: list[str], path: str) -> dict[str, Any]:
    """``evaluate RUN --data PATH``: the run's classification task (the only one, or the one --tasks names)
    scored on a user folder/manifest whose class names are among the task's."""
    from omnivec.data.byo import load_user, relabel

    cls = [n for n in names if model.task(n).kind == "classification"]
    if len(cls) != 1:
        raise OmnivecError(f"--data needs exactly one classification task; pick one with --tasks (have {names})")
    task = model.task(cls[0])
    ds = load_user(path, cfg, task.modality)
    return {cls[0]: relabel(ds, list(task.class_names))}
