"""The label-scarce protocol: the OmniVec claims tested where self-supervised pretraining is known to pay.

Masked pretraining sees the *unlabelled* training splits of every staged dataset (all five modalities); then every
row fine-tunes with the same scarce labels -- a seeded 1 %, 10 % or 100 % of each task's training samples
(:func:`omnivec.train.label_subset`, nested: the 1 % lies inside the 10 %) -- and the same labelled compute:
every task gets ``steps`` sub-batches of ``batch_size`` labelled samples in every row. Pretraining is extra,
unlabelled compute, as in MAE/BEiT evaluations; the budget names it.

Rows (each seed, each label fraction):

(a) one specialist per task, from random weights;
(b) one unified model, from random weights, every task in every step;
(c) unified from the mixed-modality masked pretraining, grouped sequential fine-tuning (simple, then dense;
    ``rounds`` rounds; a closing joint phase, :data:`CLOSE`), every step mixing its group's tasks;
(d) = (c) without grouping: the same pretrained start, every task in every step (b's schedule);
(e) = (c) without modality mixing: pretraining and fine-tuning one task (one modality) per step;
(f) an unseen dataset (fashion-mnist, never pretrained on) through the bring-your-own path, from the pretrained
    start vs from random weights;
(c0) (c) ending on its last group instead of a closing joint phase (the alternative ending; run on request).

Random starts (a, b, f-scratch) are the pretrained run's architecture and tokenizer with fresh weights (the
``init`` part), so (c) - (b) measures the pretrained *weights* alone, not a tokenizer learnt from more text.

Every part (a pretraining run, a row at one fraction) is its own run folder under ``OUT/seed-<k>/`` and leaves a
``parts/<name>.json`` with its scores and wall time when it finishes; a part whose file exists is skipped, so a
long table is built in parts (``--rows``, ``--labels``), and a killed run resumes at the part it was in.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from omnivec.config import RunConfig, TrainConfig
from omnivec.data.task_catalog import GENERATED_SUITE, get_task
from omnivec.errors import OmnivecError
from omnivec.finetune import default_groups, finetune
from omnivec.model import OmniModel
from omnivec.parts import Parts
from omnivec.pretrain import PretrainConfig, pretrain
from omnivec.run import load_run, save_run

SCARCE_REAL_SUITE = ["mnist", "fsdd", "banking77", "moving-digits", "digit-points", "digit-scenes"]
"""Fine-tuned and scored: one classification task per modality (image, audio, text, video, points) and the dense
one (digit-scenes segmentation), so grouping has two groups. Their training splits are also the pretraining data."""
SCARCE_GENERATED_SUITE = list(GENERATED_SUITE)
HELD_OUT = {"real": "fashion-mnist", "generated": "shapes"}
"""Row (f)'s unseen dataset per suite; it is left out of pretraining and of the suite."""
ROWS = ("a", "b", "c", "d", "e", "f", "c0")
DEFAULT_ROWS = ("a", "b", "c", "d", "e", "f")
"""``c0`` (asked for by name) is (c) without the closing joint phase: the sequence ends on the dense group."""
CLOSE = 0.1
"""Share of (c)/(e)'s fine-tuning steps in the closing joint phase over all tasks (docs/recipe.md, "How a grouped
sequence ends")."""


@dataclass(frozen=True)
class ScarceBudget:
    """One named budget of the protocol; ``wall`` is what it took on this project's 2-core CPU."""

    name: str
    pretrain_steps: int
    """Masked pretraining steps; each step takes one sub-batch of every dataset (mixed)."""
    steps: int
    """Labelled sub-batches per task in every row."""
    batch_size: int
    train_limit: int
    """Training samples per dataset seen by pretraining (0: all); the label fractions are shares of these."""
    test_limit: int
    preset: str = "cpu"
    rounds: int = 2
    wall: str = ""


SCARCE_BUDGETS = {
    "tiny": ScarceBudget("tiny", 8, 8, 8, 64, 32, preset="tiny", rounds=1, wall="about a minute (tests)"),
    "small": ScarceBudget("small", 300, 100, 32, 2000, 500, wall="11 min per seed and fraction on 2 cores, 3 tasks"),
    "medium": ScarceBudget("medium", 2000, 300, 32, 6000, 1000, wall="1-2 h per seed and fraction, 2 cores, estimate"),
    "full": ScarceBudget("full", 20000, 1000, 64, 0, 0, wall="a GPU; tens of hours on 2 cores"),
}


def base_config(b: ScarceBudget, data_root: str, seed: int, tasks: list[str]) -> RunConfig:
    """The quickstart's model and data handling (or the tiny preset's), sized by the budget."""
    from omnivec.quickstart import quickstart_config

    if b.preset == "cpu":
        cfg = quickstart_config(seed, data_root, tasks)
    else:
        from omnivec.config import preset

        cfg = preset(b.preset)
        cfg.num_train, cfg.num_test, cfg.data_root, cfg.tasks = b.train_limit, b.test_limit, data_root, list(tasks)
    cfg.train_limit, cfg.test_limit = b.train_limit, b.test_limit
    if b.train_limit:
        cfg.num_train = b.train_limit
    if b.test_limit:
        cfg.num_test = b.test_limit
    cfg.train.seed, cfg.train.batch_size = seed, b.batch_size
    return cfg


def _schedule(train: TrainConfig, steps: int, fraction: float = 1.0) -> TrainConfig:
    t = TrainConfig(**asdict(train))
    t.max_steps = max(1, steps)
    t.warmup_steps = max(1, t.max_steps // 10)
    t.log_every = max(1, t.max_steps // 10)
    t.label_fraction = fraction
    return t


def closed_steps(steps: int, groups: int, close: float) -> int:
    """Optimizer steps of a grouped run whose every task gets ``steps`` sub-batches: each task trains in its
    group's phases, ``(1 - close) / groups`` of the run, and in the closing joint phase, ``close`` of it."""
    if groups < 2:
        return steps
    return max(groups, round(steps * groups / (1 + (groups - 1) * close)))


def resolve(suite: str, data_root: str) -> tuple[str, list[str], str]:
    """(suite name, fine-tuned tasks, held-out dataset); ``auto`` is real when its datasets are staged."""
    real_ok = bool(data_root) and Path(data_root).is_dir() and (Path(data_root) / "mnist").exists()
    if suite == "auto":
        suite = "real" if real_ok else "generated"
    if suite == "real":
        if not real_ok:
            raise OmnivecError(f"the real suite needs the staged datasets under {data_root!r} (OMNIVEC_DATA)")
        return "real", list(SCARCE_REAL_SUITE), HELD_OUT["real"]
    if suite == "generated":
        return "generated", [t for t in SCARCE_GENERATED_SUITE if t != HELD_OUT["generated"]], HELD_OUT["generated"]
    from omnivec.config import comma_list
    from omnivec.data.task_catalog import task_names

    tasks = comma_list(suite)
    if unknown := [t for t in tasks if t not in task_names()]:
        raise OmnivecError(f"unknown task(s) {unknown} in --suite; expected auto, real, generated or task names")
    held = HELD_OUT["real" if get_task(tasks[0]).source == "real" else "generated"]
    return "custom", [t for t in tasks if t != held], held


def _scores(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    return {k: float(v["value"]) for k, v in results.items()}


def run_seed(
    out: Path,
    budget: ScarceBudget,
    suite: str,
    seed: int,
    fractions: list[float],
    rows: list[str],
    data_root: str,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every part of one seed that ``rows`` x ``fractions`` needs; returns {"rows": {pct: {row: scores}}, ...}."""
    suite_name, tasks, held_out = resolve(suite, data_root)
    parts = Parts(out, log)
    cfg = base_config(budget, data_root, seed, tasks)
    groups = default_groups(tasks)
    S, G, T = budget.steps, len(groups), len(tasks)
    pretrainable = [t for t in tasks if get_task(t).kind != "retrieval"]

    def pretrain_part(schedule: str, steps: int) -> Callable[[Path], dict[str, float]]:
        def fn(folder: Path) -> dict[str, float]:
            c = base_config(budget, data_root, seed, tasks)
            c.train = _schedule(c.train, steps)
            c.train.task_schedule = schedule
            s = pretrain(c, folder, PretrainConfig(), progress=False)
            return {"loss": float(s["last"].get("loss", float("nan")))}

        return fn

    def init_part(folder: Path) -> dict[str, float]:
        model, run_cfg = load_run(out / "pt-mixed")
        torch.manual_seed(seed)
        save_run(OmniModel(run_cfg.model, model.tokenizer), run_cfg, folder)
        return {}

    parts.run("pt-mixed", pretrain_part("mixed", budget.pretrain_steps))
    parts.run("init", init_part)  # random weights with pt-mixed's architecture and tokenizer
    if "e" in rows:  # (e) pretrains one modality per step
        parts.run("pt-single", pretrain_part("round_robin", budget.pretrain_steps * len(pretrainable)))

    def ft(start: str, names: list[str], steps: int, fr: float, grp: list[list[str]], rounds: int, **kw: Any):
        def fn(folder: Path) -> dict[str, float]:
            tr = _schedule(cfg.train, steps, fr)
            return _scores(finetune(out / start, names, folder, tr, grp, rounds, progress=False, **kw))

        return fn

    table: dict[str, dict[str, dict[str, float]]] = {}
    walls: dict[str, float] = {}

    def get(name: str, fn: Callable[[Path], dict[str, float]], wanted: bool) -> dict[str, Any] | None:
        """Run a wanted part; read an unwanted one only if an earlier call finished it (a table in parts)."""
        p = parts.run(name, fn) if wanted else parts.done(name)
        if p is not None:
            row = name.split("/")[1].split("-")[0]  # labels-10/a-mnist -> a, labels-10/f-scratch -> f
            walls[row] = walls.get(row, 0.0) + p["wall_s"]
        return p

    for fr in fractions:
        pct = f"{fr * 100:g}"
        r: dict[str, dict[str, float]] = {}
        L = f"labels-{pct}"
        a = [get(f"{L}/a-{t}", ft("init", [t], S, fr, [[t]], 1), "a" in rows) for t in tasks]
        if all(a):
            r["a"] = {k: v for p in a if p for k, v in p["scores"].items()}
        row_specs: dict[str, tuple[str, int, list[list[str]], int, dict[str, Any]]] = {
            "b": ("init", S, [list(tasks)], 1, {}),
            "c": ("pt-mixed", closed_steps(S, G, CLOSE), groups, budget.rounds, {"close": CLOSE}),
            "c0": ("pt-mixed", S * G, groups, budget.rounds, {}),
            "d": ("pt-mixed", S, [list(tasks)], 1, {}),
            "e": (
                "pt-single",
                S * T,
                groups,
                budget.rounds,
                {"close": CLOSE, "mix": False, "weights": [len(g) for g in groups]},
            ),
        }
        for key, (start, steps, grp, rounds, kw) in row_specs.items():
            if (p := get(f"{L}/{key}", ft(start, list(tasks), steps, fr, grp, rounds, **kw), key in rows)) is not None:
                r[key] = p["scores"]
        f = [get(f"{L}/f-{k}", unseen_part(out, cfg, held_out, S, fr, start), "f" in rows) for k, start in UNSEEN]
        if all(f):
            r["f"] = {k: next(iter(p["scores"].values())) for (k, _), p in zip(UNSEEN, f) if p}
        table[pct] = r
    meta = _meta(out, tasks, fractions)
    return {
        "seed": seed,
        "suite": suite_name,
        "tasks": tasks,
        "groups": groups,
        "held_out": held_out,
        "rows": table,
        "meta": meta,
        "wall_s": walls,
        "pretrain_wall_s": {k: v["wall_s"] for k in ("pt-mixed", "pt-single") if (v := parts.done(k))},
    }


UNSEEN = (("pretrained", "pt-mixed"), ("scratch", "init"))
"""Row (f)'s two starts: the mixed pretraining (which never saw the held-out dataset) and random weights."""


def unseen_part(
    out: Path, cfg: RunConfig, held_out: str, steps: int, fraction: float, start: str
) -> Callable[[Path], dict[str, float]]:
    """Row (f) from ``start``: the held-out dataset through the bring-your-own path (its splits written once as
    PNG class folders under ``out/heldout-data``), with the same labels and steps as every other row."""

    def fn(folder: Path) -> dict[str, float]:
        from omnivec.data.byo import byo_spec, export_image_folder

        data = out / "heldout-data"
        if not (data / "done").is_file():
            splits = get_task(held_out).build(dataclasses.replace(cfg, tasks=[held_out]))
            if data.exists():
                shutil.rmtree(data)
            export_image_folder(splits.train, splits.class_names, data / "train")
            export_image_folder(splits.test, splits.class_names, data / "test")
            (data / "done").write_text("")
        name = f"{held_out}-byo"
        byo = {name: byo_spec(str(data / "train"), str(data / "test"), "image")}
        tr = _schedule(cfg.train, steps, fraction)
        return _scores(finetune(out / start, [name], folder, tr, [[name]], 1, progress=False, byo=byo))

    return fn


def _meta(out: Path, tasks: list[str], fractions: list[float]) -> dict[str, dict[str, Any]]:
    """Each task's metric and chance level, read from any finished row's eval.json."""
    meta: dict[str, dict[str, Any]] = {}
    for ev in sorted(out.glob("labels-*/*/eval.json")):
        for t, v in json.loads(ev.read_text()).items():
            if t in tasks and t not in meta:
                meta[t] = {"metric": v["metric"], "chance": v["chance"]}
    return meta


__all__ = ["CLOSE", "DEFAULT_ROWS", "ROWS", "SCARCE_BUDGETS", "ScarceBudget", "closed_steps", "run_seed"]
