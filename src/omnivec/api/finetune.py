"""Grouped sequential multitask fine-tuning (OmniVec arXiv 2311.05709 §3.2, stage 2).

Tasks are split into groups (by default by their catalogue group: ``simple`` = one label per sample, then
``dense`` = one label per token/pixel). Training visits the groups one after another, and repeats the whole
sequence for several rounds, so the shared trunk alternates between kinds of supervision instead of forgetting
one while learning the other. Within a group every optimizer step mixes all of the group's tasks (hence their
modalities) by default; ``mix=False`` takes one task per step in turn (the "no modality mixing" ablation).
``groups=[all tasks]`` with one round is plain joint multitask training (the "no grouping" ablation).

The schedule is a list of phases ``(round, group index, tasks, first step, steps)``, written to
``schedule.json`` in the run folder; every metrics line names the step's tasks, so the order can be read back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omnivec.api.train import check_resumed_classes, prepare_tasks, supervised_job, train_tokenizer
from omnivec.config import RunConfig, TrainConfig, comma_list
from omnivec.data.task_catalog import get_task
from omnivec.errors import OmnivecError
from omnivec.nn.model import OmniModel
from omnivec.runs import load_run
from omnivec.training import checkpoint as ckpt
from omnivec.training.distributed import DistInfo
from omnivec.training.runner import Job, elastic_restart, run_job, same_tokenizer

SCHEDULE = "schedule.json"
GROUP_ORDER = ("simple", "dense")
PRETRAINED_LAYER_DECAY = 0.65
"""``omnivec finetune RUN``'s layer-wise lr decay when RUN is a pretrained start and nothing sets one (MAE
fine-tunes at 0.65-0.75): from a 48-pass pretraining on 8,000 Fashion-MNIST images, 80 labels, it lifts held-out
accuracy over no decay on every seed measured (docs/recipe.md, "The user's path, measured"). From scratch there
is nothing to keep, and the decay stays off."""


@dataclass
class Phase:
    round: int
    group: int
    tasks: list[str]
    start: int
    steps: int


def default_groups(
    tasks: list[str], order: tuple[str, ...] = GROUP_ORDER, cfg: RunConfig | None = None
) -> list[list[str]]:
    """Group tasks by their catalogue group (bring-your-own tasks in ``cfg.byo`` by theirs), groups in ``order``
    (unknown groups after, alphabetically)."""
    by: dict[str, list[str]] = {}
    for t in tasks:
        by.setdefault(get_task(t, cfg).group, []).append(t)
    names = [g for g in order if g in by] + sorted(g for g in by if g not in order)
    return [by[g] for g in names]


def parse_groups(spec: str, tasks: list[str], cfg: RunConfig | None = None) -> list[list[str]]:
    """``"shapes,tones;scenes"`` -> [[shapes, tones], [scenes]]; empty -> :func:`default_groups`."""
    if not spec.strip():
        return default_groups(tasks, cfg=cfg)
    groups = [comma_list(g) for g in spec.split(";") if g.strip()]
    flat = [t for g in groups for t in g]
    if sorted(flat) != sorted(tasks) or len(set(flat)) != len(flat):
        raise OmnivecError(f"--groups must name every task exactly once; got {flat}, tasks are {tasks}")
    return groups


def make_phases(
    groups: list[list[str]],
    rounds: int,
    max_steps: int,
    weights: list[float] | None = None,
    close: float = 0.0,
) -> list[Phase]:
    """Split ``max_steps`` over ``rounds`` x ``groups`` phases, in proportion to ``weights`` (one per group;
    equal by default), every phase at least one step, the steps summing to ``max_steps`` exactly.

    ``close`` > 0 ends the sequence with a joint phase over every group's tasks that takes that share of the
    steps (group index -1), so no task is evaluated after a phase that trained only other tasks moved the trunk
    (docs/recipe.md, "How a grouped sequence ends")."""
    if rounds < 1 or not groups:
        raise OmnivecError("finetune needs at least one group and one round")
    if not 0.0 <= close < 1.0:
        raise OmnivecError(f"the closing joint phase's share must be in [0, 1), got {close}")
    closing = round(max_steps * close) if len(groups) > 1 else 0
    if closing:
        phases = make_phases(groups, rounds, max_steps - closing, weights)
        end = phases[-1].start + phases[-1].steps
        return [*phases, Phase(rounds, -1, [t for g in groups for t in g], end, closing)]
    n = rounds * len(groups)
    if max_steps < n:
        raise OmnivecError(f"max_steps {max_steps} < rounds x groups = {n}: every phase needs a step")
    w = [float(x) for x in (weights or [1.0] * len(groups))] * rounds
    total = sum(w)
    cuts = [round(max_steps * sum(w[: i + 1]) / total) for i in range(n)]
    phases, start = [], 0
    for i, end in enumerate(cuts):
        end = max(end, start + 1) if i < n - 1 else max_steps
        phases.append(Phase(i // len(groups), i % len(groups), list(groups[i % len(groups)]), start, end - start))
        start = end
    return phases


def grouped_schedule(phases: list[Phase], mix: bool = True) -> Callable[[int], list[str]]:
    """step -> the tasks of that step: the phase's whole group (mix) or one of its tasks in turn."""

    def schedule(step: int) -> list[str]:
        for p in phases:
            if p.start <= step < p.start + p.steps:
                return list(p.tasks) if mix else [p.tasks[(step - p.start) % len(p.tasks)]]
        return list(phases[-1].tasks)

    return schedule


def finetune(
    start: str | Path | None,
    tasks: list[str],
    out: str | Path,
    train_cfg: TrainConfig | None = None,
    groups: list[list[str]] | None = None,
    rounds: int = 2,
    mix: bool = True,
    run_cfg: RunConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    weights: list[float] | None = None,
    byo: dict[str, dict[str, str]] | None = None,
    device: str = "auto",
    close: float = 0.0,
) -> dict[str, Any]:
    """Fine-tune the trunk of the run folder ``start`` (or a fresh model from ``run_cfg`` when ``start``
    is None)
    on ``tasks`` with the grouped schedule; evaluate on the test splits; return the results. ``byo`` adds
    bring-your-own tasks (task name -> ``RunConfig.byo`` entry, see :func:`omnivec.data.byo.byo_spec`), as
    ``omnivec finetune RUN --train DIR`` does; they are fine-tuned whether or not ``tasks`` names them.
    ``close``: the share of the steps in a closing joint phase over all tasks (:func:`make_phases`).
    ``run_cfg`` with a ``start``: its schedule and data settings apply, its model is the start's.
    ``device``: see :func:`omnivec.training.runner.run_job`."""
    out = Path(out)
    resume = resume or elastic_restart(out)  # torchrun --max-restarts relaunched the fresh command
    # the starting point and the config of a fresh run are inputs, resolved before the run's seeding
    fresh = None if resume else _start_point(start, tasks, train_cfg, run_cfg, byo)

    def build(info: DistInfo) -> Job:
        if fresh is None:
            model, cfg = load_run(out)
            sched = json.loads((out / SCHEDULE).read_text())
            phases, mixed = [Phase(**p) for p in sched["phases"]], bool(sched["mix"])
            prepared = prepare_tasks(cfg, cfg.tasks)
            check_resumed_classes(out, model, cfg, prepared)
        else:
            loaded, cfg = fresh
            prepared = prepare_tasks(cfg, cfg.tasks)
            if loaded is None:
                cfg.model.tasks = []
                loaded = OmniModel(cfg.model, same_tokenizer(train_tokenizer(cfg, prepared), info))
            model = loaded
            for p in prepared.values():
                model.add_task(p.cfg)
            # cfg: the groups of bring-your-own tasks
            phases = make_phases(
                groups or default_groups(cfg.tasks, cfg=cfg), rounds, cfg.train.max_steps, weights, close
            )
            mixed = mix
        job = supervised_job(model, cfg, prepared, grouped_schedule(phases, mixed), "grouped fine-tuning loss")
        schedule = {"start": str(start) if start else None, "mix": mixed, "phases": [asdict(p) for p in phases]}
        job.fresh_files = lambda d: ckpt.atomic_write_text(d / SCHEDULE, json.dumps(schedule, indent=2))
        return job

    seed = None if fresh is None else fresh[1].train.seed
    return run_job(out, build, resume=resume, seed=seed, progress=progress, device=device)


DATA_SETTINGS = ("data_root", "num_train", "num_test", "train_limit", "test_limit", "strict")
"""What a fine-tuning run reads its data with: with a start folder, ``run_cfg``'s replace the start's."""


def _start_point(
    start: str | Path | None,
    tasks: list[str],
    train_cfg: TrainConfig | None,
    run_cfg: RunConfig | None,
    byo: dict[str, dict[str, str]] | None,
) -> tuple[OmniModel | None, RunConfig]:
    """The pretrained model of ``start`` (None from scratch) and the run's config, with ``tasks``, ``byo`` and
    ``train_cfg`` applied. With both ``start`` and ``run_cfg``, the model is the start's and ``run_cfg`` gives
    the schedule and the data settings (:data:`DATA_SETTINGS`), as the command line does."""
    model: OmniModel | None = None
    if start is not None:  # a run folder, or a Hugging Face folder converted in memory
        from omnivec.training.warm_start import source_model

        model, cfg = source_model(start)
        if model.tasks:
            raise OmnivecError(f"{start} already has task heads; fine-tune from a pretrained run folder")
        # the start's own data (pretraining folders) are not tasks of this run: kept, a folder's name would
        # shadow the catalogue task of that name
        cfg.byo = {}
        if run_cfg is not None:
            from omnivec.training.warm_start import keep_training_fields

            keep_training_fields(cfg.model, run_cfg)  # e.g. the loss's label smoothing is this run's
            keep_training_fields(model.cfg, run_cfg)
            cfg.train = run_cfg.train
            for key in DATA_SETTINGS:
                setattr(cfg, key, getattr(run_cfg, key))
            cfg.byo = dict(run_cfg.byo)
    elif run_cfg is not None:
        cfg = run_cfg
    else:
        raise OmnivecError("finetune needs a pretrained run folder or a run config")
    if train_cfg is not None:
        cfg.train = train_cfg
    cfg.byo = {**cfg.byo, **(byo or {})}
    cfg.tasks = [*tasks, *(n for n in byo or {} if n not in tasks)]
    return model, cfg


__all__ = ["Phase", "default_groups", "finetune", "grouped_schedule", "make_phases", "parse_groups"]
