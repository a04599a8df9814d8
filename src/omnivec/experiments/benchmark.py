"""omnivec against strong small specialists, side by side, at one budget.

``omnivec reproduce baselines``: the quickstart suite (or any task list) with ONE unified omnivec model trained on
all of the tasks and one reference specialist per task (``omnivec.experiments.baselines``), both on the same
training samples for the same budget -- ``steps`` x ``batch_size`` per task, or the same wall seconds per task
(the unified model then gets ``seconds x number of tasks``, the specialists ``seconds`` each: equal compute in total).

``omnivec reproduce full-budget`` (experiments/full_budget.py) runs the same pair per staged dataset on its full
official splits.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from omnivec.api.train import PreparedTask, prepare_tasks, train
from omnivec.config import RunConfig
from omnivec.training import checkpoint as ckpt
from omnivec.training.selection import BEST, best_info


@dataclass(frozen=True)
class BenchBudget:
    """``steps`` x ``batch_size`` per task, or ``seconds`` of training per task when ``seconds > 0``."""

    steps: int = 300
    batch_size: int = 32
    seconds: float = 0.0

    def describe(self) -> str:
        if self.seconds > 0:
            return f"{self.seconds:.0f} s of training per task, batch {self.batch_size}"
        return f"{self.steps} steps x {self.batch_size} samples per task"


def machine_gflops(n: int = 1024, repeats: int = 5) -> float:
    """fp32 matmul throughput of this machine (GFLOP/s), printed beside every timing so minutes can be compared
    across machines."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e9


def side_by_side(
    cfg: RunConfig,
    out: Path,
    budget: BenchBudget,
    progress: bool = False,
    tasks: dict[str, PreparedTask] | None = None,
) -> list[dict[str, Any]]:
    """Train ONE omnivec model on ``cfg.tasks`` and each task's specialist at ``budget``; one row per task."""
    from omnivec.experiments.baselines import Budget, train_baselines
    from omnivec.training.engine import read_log

    cfg.train.batch_size = budget.batch_size
    if budget.seconds > 0:
        cfg.train.max_seconds = budget.seconds * len(cfg.tasks)
        cfg.train.max_steps = 10**9
        cfg.train.warmup_steps = max(cfg.train.warmup_steps, 100)
    else:
        cfg.train.max_steps = budget.steps
    tasks = tasks or prepare_tasks(cfg, cfg.tasks)
    t0 = time.perf_counter()
    results = train(cfg, out / "omnivec", progress=progress, tasks=tasks)
    omni_s = time.perf_counter() - t0
    steps = max((int(r.get("step", 0)) for r in read_log(out / "omnivec" / ckpt.METRICS)), default=0)
    last, selected = results, best_info(out / "omnivec")
    if selected is not None:  # the step its validation split chose, scored on the test split
        results = json.loads((out / "omnivec" / BEST / "eval.json").read_text())
    b = Budget(steps=budget.steps, batch_size=budget.batch_size, seconds=budget.seconds)
    refs = train_baselines(tasks, b, cfg.train.seed, cfg.model.encoders.get("audio"), progress)
    rows = []
    for name, p in tasks.items():
        ref, r = refs[name], results[name]
        value, ref_value = float(r["value"]), float(ref["value"])
        rows.append(
            {
                "task": name,
                "modality": r["modality"],
                "metric": r["metric"],
                "chance": round(float(r["chance"]), 4),
                "train": len(p.splits.train),  # type: ignore[arg-type]
                "test": len(p.splits.test),  # type: ignore[arg-type]
                "omnivec": round(value, 4),
                "omnivec_seconds": round(omni_s / len(tasks), 1),
                "omnivec_steps": steps,
                **(
                    {"selected_step": selected["step"], "omnivec_last": round(float(last[name]["value"]), 4)}
                    if selected is not None
                    else {}
                ),
                "baseline": ref["baseline"],
                "baseline_value": round(ref_value, 4),
                "baseline_seconds": round(float(ref["seconds"]), 1),
                "baseline_steps": int(ref.get("steps", 0)),
                "ratio": round(value / ref_value, 3) if ref_value > 0 else None,
            }
        )
    return rows


def table(
    rows: list[dict[str, Any]], targets: dict[str, float] | None = None, published: dict[str, str] | None = None
) -> str:
    head = "| task | metric | train / test | omnivec | s | baseline | score | s | omnivec / baseline |"
    sep = "|---|---|---|---|---|---|---|---|---|"
    if targets is not None:
        head, sep = head + " target | published |", sep + "---|---|"
    lines = [head, sep]
    for r in rows:
        line = (
            f"| {r['task']} | {r['metric']} | {r['train']} / {r['test']} | **{r['omnivec']:.4f}** | "
            f"{r['omnivec_seconds']:.0f} | {r['baseline']} | {r['baseline_value']:.4f} | {r['baseline_seconds']:.0f} | "
            f"{r['ratio'] if r['ratio'] is not None else '-'} |"
        )
        if "selected_step" in r:  # the best step by validation, of the steps trained
            line = line.replace(f"**{r['omnivec']:.4f}**", f"**{r['omnivec']:.4f}** (step {r['selected_step']})")
        if targets is not None:
            t = targets.get(r["task"])
            mark = "" if t is None else (" met" if r["omnivec"] >= t else " **missed**")
            line += f" {t if t is not None else '-'}{mark} | {(published or {}).get(r['task'], '-')} |"
        lines.append(line)
    return "\n".join(lines)


def base_config(tasks: list[str], data_root: str, seed: int, train_limit: int, test_limit: int) -> RunConfig:
    from omnivec.experiments.quickstart import quickstart_config

    cfg = quickstart_config(seed, data_root, tasks)
    cfg.train_limit, cfg.test_limit = train_limit, test_limit
    cfg.num_train, cfg.num_test = train_limit or cfg.num_train, test_limit or cfg.num_test
    cfg.train.log_every = 50
    return cfg


def reproduce_baselines(
    out: str | Path,
    tasks: list[str],
    budget: BenchBudget,
    data_root: str = "",
    seed: int = 0,
    train_limit: int = 3000,
    test_limit: int = 1000,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """One unified model on ``tasks`` beside one specialist per task; writes ``baselines.md``/``.json``."""
    from omnivec.training.outputs import claim_folder

    out = Path(out)
    cfg = base_config(tasks, data_root, seed, train_limit, test_limit)
    claim_folder(out, "baselines", legacy=("baselines.json", "baselines.md"))
    gflops = machine_gflops()
    rows = side_by_side(cfg, out, budget, progress)
    md = "\n".join(
        [
            f"# omnivec vs specialists ({budget.describe()}; one unified omnivec model for all "
            f"{len(rows)} tasks, one specialist per task)",
            "",
            f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
            f"fp32 matmul {gflops:.0f} GFLOP/s. omnivec seconds: the unified model's time divided by the number of "
            "tasks.",
            "",
            table(rows),
            "",
        ]
    )
    ckpt.atomic_write_text(out / "baselines.md", md)
    ckpt.atomic_write_text(out / "baselines.json", json.dumps({"gflops": gflops, "rows": rows}, indent=2))
    return rows


__all__ = ["BenchBudget", "base_config", "machine_gflops", "reproduce_baselines", "side_by_side", "table"]
