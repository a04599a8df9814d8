"""Your own data on a run config: ``train --train DIR`` / ``finetune --train DIR`` add a bring-your-own task
(:func:`add_byo`); ``pretrain --train DIR`` adds a folder of files of any modality, labelled or not, as one
pretraining stream (:func:`add_pretraining_data`); ``evaluate --data DIR`` scores a classification head on a
folder or manifest (:func:`user_eval_set`)."""

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


def add_pretraining_data(cfg: RunConfig, path: str, modality: str = "") -> str:
    """Add ``path`` (a folder, flat or of class subfolders, or a manifest) to ``cfg`` as masked-pretraining data
    with optional labels; returns its task (stream) name: the folder's name, with ``-2``, ``-3``, ... when a
    task of this run already has it (``data/a/images`` beside ``data/b/images``)."""
    from omnivec.data.byo import byo_name, byo_spec

    if not Path(path).exists():
        raise OmnivecError(f"--train {path}: no such folder or manifest")
    spec = byo_spec(path, modality=modality, labels=False)
    if any(s["train"] == spec["train"] for s in cfg.byo.values()):
        raise OmnivecError(f"--train {path}: given twice")
    base = name = byo_name(path)
    n = 1
    while name in cfg.tasks or name in cfg.byo:
        n += 1
        name = f"{base}-{n}"
    cfg.byo[name] = spec
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
    unknown = sorted(set(ds.class_names) - set(task.class_names))
    if unknown:  # a subset is fine: relabel maps each class by its name
        raise OmnivecError(
            f"{getattr(model, 'run_dir', 'the run')} was trained on classes {list(task.class_names)} for task "
            f"{task.name!r}; --data {path} has classes it never saw: {unknown}"
        )
    return {cls[0]: relabel(ds, list(task.class_names))}
