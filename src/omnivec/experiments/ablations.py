"""The OmniVec recipe ablations: what each row trains, on which suite and budget (:func:`run_ablations`).

``omnivec reproduce omnivec-ablations`` runs them and renders the table (:mod:`omnivec.experiments.reproduce`).

Rows (same compute per row, counted in *task sub-batches*: one sub-batch = ``batch_size`` samples of one task or
modality through the trunk, forward and backward; with ``S`` steps and ``T`` tasks every row spends ``S * T``):

(a) one specialist per task from scratch, ``S`` steps each;
(b) one unified model from scratch, ``S`` steps, every task in every step;
(c) unified + masked pretraining: ``S/2`` mixed pretraining steps (all pretrainable tasks per step) then grouped
    fine-tuning worth ``S/2 * T`` sub-batches (groups in turn, ``rounds`` rounds, each step mixes a group's tasks);
(d) = (c) without task grouping: the same pretrained trunk, fine-tuned with every task in every step;
(e) = (c) without modality mixing: pretraining and fine-tuning take one task (one modality) per step, with as
    many more steps as it takes to see the same number of sub-batches.

Generalisation: masked pretraining on every task but a held-out one (fashion-mnist on the real suite, shapes on
the generated one), then fine-tuning on the held-out task vs training it from scratch at equal steps.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from omnivec.api.finetune import default_groups, finetune
from omnivec.api.pretrain import PretrainConfig, pretrain
from omnivec.api.train import train
from omnivec.config import RunConfig, comma_list, preset
from omnivec.data.task_catalog import GENERATED_SUITE, get_task, task_names
from omnivec.errors import OmnivecError
from omnivec.nn.encoders.points import PointsEncoderConfig
from omnivec.nn.encoders.text import TextEncoderConfig
from omnivec.tasks import task_kind
from omnivec.training.outputs import claim_folder

ABLATION_REAL_SUITE = [
    "mnist",
    "fashion-mnist",
    "fsdd",
    "banking77",
    "digit-scenes",
    "moving-digits",
    "digit-points",
    "fsdd-mnist",
]
"""The ablations' real suite: every real-data task, i.e. the quickstart's six (:data:`omnivec.data.real_tasks.
REAL_SUITE`) plus fashion-mnist (the held-out dataset of the generalisation row) and fsdd-mnist (retrieval)."""


@dataclass(frozen=True)
class Budget:
    preset: str
    steps: int
    batch_size: int
    num_train: int
    num_test: int
    rounds: int = 2
    embed_dim: int = 64
    depth: int = 2
    num_heads: int = 2
    lr: float = 2e-3


BUDGETS = {
    "tiny": Budget("tiny", steps=16, batch_size=8, num_train=64, num_test=32),
    "small": Budget("small-cpu", steps=48, batch_size=16, num_train=320, num_test=160),
    # the quickstart's trunk and data size (D=128, depth 4; 3000 train / 500 test per task): ~40 min on 2 cores
    "medium": Budget(
        "small", steps=300, batch_size=32, num_train=3000, num_test=500, embed_dim=128, depth=4, num_heads=4
    ),
}


def resolve_suite(suite: str, data_root: str) -> tuple[str, list[str], str]:
    """(suite name, tasks, held-out task). ``auto`` picks the real suite when all its tasks are
    registered and a
    data root exists, the generated one otherwise."""
    registered = set(task_names())
    real_ok = all(t in registered for t in ABLATION_REAL_SUITE) and bool(data_root) and Path(data_root).is_dir()
    if suite == "auto":
        suite = "real" if real_ok else "generated"
    if suite == "real":
        if not real_ok:
            missing = [t for t in ABLATION_REAL_SUITE if t not in registered]
            raise OmnivecError(f"real suite unavailable: unregistered tasks {missing} or no data root {data_root!r}")
        return "real", list(ABLATION_REAL_SUITE), "fashion-mnist"
    if suite == "generated":
        return "generated", list(GENERATED_SUITE), "shapes"
    tasks = comma_list(suite)
    unknown = [t for t in tasks if t not in registered]
    if unknown:
        raise OmnivecError(f"unknown task(s) {unknown} in --suite")
    return "custom", tasks, tasks[0]


def base_config(b: Budget, data_root: str, seed: int) -> RunConfig:
    cfg = preset("tiny" if b.preset != "small" else "small")
    m = cfg.model
    m.embed_dim, m.depth, m.num_heads = b.embed_dim, b.depth, b.num_heads
    if b.preset == "small":  # the quickstart's narrowing of the small preset's text and point encoders
        text, points = m.encoders["text"], m.encoders["points"]
        assert isinstance(text, TextEncoderConfig) and isinstance(points, PointsEncoderConfig)
        text.vocab_size, points.hidden_dim = 2048, 64
    cfg.train.lr = b.lr
    cfg.num_train, cfg.num_test = b.num_train, b.num_test
    cfg.train_limit, cfg.test_limit = b.num_train, b.num_test
    cfg.data_root = data_root
    cfg.train.batch_size = b.batch_size
    cfg.train.seed = seed
    cfg.train.log_every = max(1, b.steps // 8)
    cfg.train.warmup_steps = max(1, b.steps // 20)
    return cfg


def _cfg(b: Budget, data_root: str, seed: int, tasks: list[str], steps: int, schedule: str = "mixed") -> RunConfig:
    cfg = base_config(b, data_root, seed)
    cfg.tasks = list(tasks)
    cfg.train.max_steps = max(1, steps)
    cfg.train.warmup_steps = max(1, cfg.train.max_steps // 20)
    cfg.train.log_every = max(1, cfg.train.max_steps // 8)
    cfg.train.task_schedule = schedule
    return cfg


def _scores(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    return {k: float(v["value"]) for k, v in results.items()}


def run_ablations(
    out: str | Path,
    budget: str = "small",
    suite: str = "auto",
    seed: int = 0,
    data_root: str = "",
    progress: bool = False,
    log: Any = print,
) -> dict[str, Any]:
    if budget not in BUDGETS:
        raise OmnivecError(f"unknown budget {budget!r}; expected one of {', '.join(BUDGETS)}")
    b = BUDGETS[budget]
    data_root = data_root or os.environ.get("OMNIVEC_DATA", "")
    suite_name, tasks, held_out = resolve_suite(suite, data_root)
    out = Path(out)
    claim_folder(out, "ablations", legacy=("partial.json",))
    S, T = b.steps, len(tasks)
    groups = default_groups(tasks)
    G = len(groups)
    half = max(1, S // 2)
    rows: dict[str, dict[str, float]] = {}
    walls: dict[str, float] = {}
    t_all = time.perf_counter()

    def timed(key: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        r = fn()
        walls[key] = walls.get(key, 0.0) + time.perf_counter() - t0
        log(f"[reproduce] {key}: {time.perf_counter() - t0:.0f}s", flush=True)
        (out / "partial.json").write_text(json.dumps({"rows": rows, "wall_s": walls}, indent=2))
        return r

    # (a) specialists
    rows["a"] = {}
    for t in tasks:
        r = timed("a", lambda t=t: train(_cfg(b, data_root, seed, [t], S), out / f"a-{t}", progress=progress))
        rows["a"].update(_scores(r))
    # (b) unified from scratch
    rows["b"] = _scores(timed("b", lambda: train(_cfg(b, data_root, seed, tasks, S), out / "b", progress=progress)))
    # (c)/(d) share one mixed pretraining run
    timed(
        "pretrain-mixed",
        lambda: pretrain(_cfg(b, data_root, seed, tasks, half), out / "pt-mixed", PretrainConfig(), progress=progress),
    )
    ft = _cfg(b, data_root, seed, tasks, G * half).train
    rows["c"] = _scores(
        timed("c", lambda: finetune(out / "pt-mixed", tasks, out / "c", ft, groups, b.rounds, progress=progress))
    )
    ft_d = _cfg(b, data_root, seed, tasks, half).train
    rows["d"] = _scores(
        timed(
            "d",
            lambda: finetune(out / "pt-mixed", tasks, out / "d", ft_d, [list(tasks)], 1, progress=progress),
        )
    )
    # (e) no modality mixing: one stream per step everywhere, T times the steps
    n_pt = len([t for t in tasks if not task_kind(get_task(t).kind).paired])  # streams pretraining uses
    timed(
        "pretrain-single",
        lambda: pretrain(
            _cfg(b, data_root, seed, tasks, half * n_pt, "round_robin"),
            out / "pt-single",
            PretrainConfig(),
            progress=progress,
        ),
    )
    ft_e = _cfg(b, data_root, seed, tasks, half * T).train
    rows["e"] = _scores(
        timed(
            "e",
            lambda: finetune(
                out / "pt-single",
                tasks,
                out / "e",
                ft_e,
                groups,
                b.rounds,
                mix=False,
                weights=[len(g) for g in groups],
                progress=progress,
            ),
        )
    )
    # generalisation: pretrain without the held-out task, fine-tune on it vs from scratch at equal steps
    seen = [t for t in tasks if t != held_out]
    timed(
        "pretrain-heldout",
        lambda: pretrain(_cfg(b, data_root, seed, seen, half), out / "pt-heldout", PretrainConfig(), progress=progress),
    )
    gen_ft, gen_scratch, gen_path = timed(
        "gen", lambda: generalisation(out, b, data_root, seed, held_out, S, progress=progress)
    )
    ev = json.loads((out / "b" / "eval.json").read_text())
    meta = {t: {"metric": ev[t]["metric"], "chance": ev[t]["chance"]} for t in tasks}
    summary = {
        "budget": budget,
        "budget_spec": b.__dict__,
        "suite": suite_name,
        "tasks": tasks,
        "groups": groups,
        "held_out": held_out,
        "rows": rows,
        "meta": meta,
        "generalisation": {"pretrained": gen_ft, "scratch": gen_scratch, "path": gen_path},
        "wall_s": walls,
        "total_wall_s": time.perf_counter() - t_all,
        "steps": S,
        "seed": seed,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor(),
    }
    (out / "ablations.json").write_text(json.dumps(summary, indent=2))
    return summary


def generalisation(
    out: Path, b: Budget, data_root: str, seed: int, held_out: str, steps: int, progress: bool = False
) -> tuple[dict[str, float], dict[str, float], str]:
    """The held-out dataset, fine-tuned from ``out/pt-heldout`` (pretrained without it) vs trained from scratch
    for the same steps. Image datasets go through the bring-your-own path, as a user's data would: both splits
    are written as PNG class folders and handed to ``finetune``/``train`` as ``--train``/``--val``; other
    modalities use the catalogue task. Returns (pretrained scores, scratch scores, "byo" or "catalogue")."""
    entry = get_task(held_out)
    cfg = _cfg(b, data_root, seed, [held_out], steps)
    name, byo = held_out, {}
    if entry.modality == "image" and entry.kind == "classification":
        from omnivec.data.byo import byo_spec, export_image_folder

        splits = entry.build(cfg)
        root = out / "heldout-data"
        export_image_folder(splits.train, splits.class_names, root / "train")
        export_image_folder(splits.test, splits.class_names, root / "test")
        name = f"{held_out}-byo"
        byo = {name: byo_spec(str(root / "train"), str(root / "test"), "image")}
    ft = finetune(out / "pt-heldout", [name], out / "gen-ft", cfg.train, [[name]], 1, progress=progress, byo=byo)
    scratch_cfg = _cfg(b, data_root, seed, [name], steps)
    scratch_cfg.byo = byo
    scratch = train(scratch_cfg, out / "gen-scratch", progress=progress)
    return (
        {held_out: float(ft[name]["value"])},
        {held_out: float(scratch[name]["value"])},
        "byo" if byo else "catalogue",
    )


__all__ = ["ABLATION_REAL_SUITE", "BUDGETS", "Budget", "generalisation", "resolve_suite", "run_ablations"]
