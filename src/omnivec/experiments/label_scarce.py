"""The label-scarce protocol: the OmniVec claims tested where self-supervised pretraining is known to pay.

Masked pretraining sees the *unlabelled* training splits of every staged dataset (all five modalities); then every
row fine-tunes with the same scarce labels -- a seeded 1 %, 10 % or 100 % of each task's training samples
(:func:`omnivec.api.train.label_subset`, nested: the 1 % lies inside the 10 %) -- and the same labelled compute:
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
record of its scores, wall time and config when it finishes, in ``OUT/seed-<k>/parts/`` and in the committed ledger
(``results/label-scarce/<budget>/<suite>/seed-<k>/``, :mod:`omnivec.experiments.ledger`); a recorded part is
skipped, so a long table is built in parts (``--rows``, ``--labels``) over several sessions, a killed run resumes
at the part it was in, and ``--render`` rebuilds the table from the ledger alone.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omnivec.api.finetune import default_groups, finetune
from omnivec.api.pretrain import PretrainConfig, pretrain
from omnivec.config import RunConfig, comma_list
from omnivec.data.task_catalog import get_task
from omnivec.experiments.ledger import Ledger
from omnivec.experiments.parts import Part, Parts
from omnivec.experiments.scarce_budget import (
    CLOSE,
    ROWS,
    ScarceBudget,
    _schedule,
    base_config,
    closed_steps,
    resolve,
)
from omnivec.runs import load_run, save_run
from omnivec.tasks import task_kind

PROTOCOL = 1
"""Part of every part's config: bump it when a code change alters what the parts compute without changing their
configs (a fix in fine-tuning, a new model default), so every committed part reads as mismatched and runs again."""
UNSEEN = (("pretrained", "pt-mixed"), ("scratch", "init"))
"""Row (f)'s two starts: the mixed pretraining (which never saw the held-out dataset) and random weights."""


def _scores(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each task's primary metric with its name and chance level (the table's header reads them)."""
    return {
        k: {"value": float(v["value"]), "metric": v["metric"], "chance": float(v["chance"])} for k, v in results.items()
    }


@dataclass(frozen=True)
class SeedPlan:
    """Every part of one seed, named and configured; nothing runs until :class:`omnivec.experiments.parts.Parts`
    runs one."""

    seed: int
    suite: str
    """``real``, ``generated``, or the ``--suite`` task list joined by ``+``: the seed's ledger folder."""
    tasks: list[str]
    groups: list[list[str]]
    held_out: str
    starts: dict[str, Part]
    """The runs rows start from: ``pt-mixed``, ``init`` and ``pt-single``."""
    rows: dict[str, dict[str, list[Part]]]
    """Label percentage -> row (every one of :data:`ROWS`) -> the parts its cells come from."""

    def about(self, budget: ScarceBudget) -> dict[str, Any]:
        """What every record of the seed says it belongs to."""
        return {"experiment": "label-scarce", "budget": budget.name, "suite": self.suite, "seed": self.seed}


def plan_seed(
    out: Path,
    budget: ScarceBudget,
    suite: str,
    seed: int,
    fractions: list[float],
    data_root: str,
    need_data: bool = True,
) -> SeedPlan:
    """Every part of one seed at ``fractions``, training into ``out`` when run. A part's config holds what
    defines it and its start's ``name@hash``, so a change to a pretraining run changes every row built on it."""
    suite_name, tasks, held_out = resolve(suite, data_root, need_data)
    cfg = base_config(budget, data_root, seed, tasks)
    groups = default_groups(tasks)
    S, G, T = budget.steps, len(groups), len(tasks)
    pretrainable = [t for t in tasks if not task_kind(get_task(t).kind).paired]
    label = "+".join(comma_list(suite)) if suite_name == "custom" else suite_name
    budget_fields = {k: v for k, v in asdict(budget).items() if k != "wall"}  # wall is a description
    base = {"protocol": PROTOCOL, "budget": budget_fields, "suite": label, "tasks": tasks, "held_out": held_out}

    def pretrain_part(name: str, schedule: str, steps: int) -> Part:
        def fn(folder: Path) -> dict[str, float]:
            c = base_config(budget, data_root, seed, tasks)
            c.train = _schedule(c.train, steps)
            c.train.task_schedule = schedule
            s = pretrain(c, folder, PretrainConfig(), progress=False)
            probe = {  # the closing probe of every classification task, beside random weights (omnivec.api.probe)
                f"probe/{r['task']}/{k}": float(r[k])
                for r in s.get("probe", [])
                for k in ("linear", "random_linear", "knn", "random_knn")
            }
            return {"loss": float(s["last"].get("loss", float("nan"))), **probe}

        return Part(name, fn, {**base, "seed": seed, "schedule": schedule, "steps": steps})

    def init_fn(folder: Path) -> dict[str, Any]:
        from omnivec.api.probe import random_twin

        model, run_cfg = load_run(out / "pt-mixed")
        save_run(random_twin(model, seed), run_cfg, folder)
        return {}

    pt_mixed = pretrain_part("pt-mixed", "mixed", budget.pretrain_steps)
    # random weights with pt-mixed's architecture and tokenizer
    init = Part("init", init_fn, {"start": pt_mixed.ref()}, (pt_mixed,))
    # (e) pretrains one modality per step
    pt_single = pretrain_part("pt-single", "round_robin", budget.pretrain_steps * len(pretrainable))
    starts = {p.name: p for p in (pt_mixed, init, pt_single)}

    def ft(
        name: str, start: str, names: list[str], steps: int, fr: float, grp: list[list[str]], rounds: int, **kw: Any
    ):
        def fn(folder: Path) -> dict[str, Any]:
            tr = _schedule(cfg.train, steps, fr)
            return _scores(finetune(out / start, names, folder, tr, grp, rounds, progress=False, **kw))

        config = {"start": starts[start].ref(), "tasks": names, "steps": steps, "fraction": fr, "groups": grp}
        return Part(name, fn, {**config, "rounds": rounds, **kw}, (starts[start],))

    rows: dict[str, dict[str, list[Part]]] = {}
    for fr in fractions:
        pct = f"{fr * 100:g}"
        L = f"labels-{pct}"
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
        r = {"a": [ft(f"{L}/a-{t}", "init", [t], S, fr, [[t]], 1) for t in tasks]}
        for key, (start, steps, grp, rounds, kw) in row_specs.items():
            r[key] = [ft(f"{L}/{key}", start, list(tasks), steps, fr, grp, rounds, **kw)]
        r["f"] = [
            Part(
                f"{L}/f-{k}",
                unseen_part(out, cfg, held_out, S, fr, start),
                {"start": starts[start].ref(), "held_out": held_out, "steps": S, "fraction": fr},
                (starts[start],),
            )
            for k, start in UNSEEN
        ]
        rows[pct] = {key: r[key] for key in ROWS}
    return SeedPlan(seed, label, tasks, groups, held_out, starts, rows)


def seed_ledger(ledger: str | Path, budget: ScarceBudget, plan: SeedPlan) -> Ledger:
    """The seed's folder of the ledger rooted at ``ledger``: ``label-scarce/<budget>/<suite>/seed-<k>``."""
    return Ledger(Path(ledger) / "label-scarce" / budget.name / plan.suite / f"seed-{plan.seed}")


def run_seed(
    out: Path,
    budget: ScarceBudget,
    suite: str,
    seed: int,
    fractions: list[float],
    rows: list[str],
    data_root: str,
    log: Callable[[str], None] = print,
    ledger: str | Path | None = None,
) -> dict[str, Any]:
    """Every part of one seed that ``rows`` x ``fractions`` needs, run into ``out`` unless recorded; with
    ``ledger`` (its root, e.g. ``results``) each part is also recorded there when it ends, and a part recorded
    there is skipped (its folder re-created only when a part that starts from it runs). Returns the seed's table
    (:func:`seed_table`), with every row that is recorded, asked for or not."""
    plan = plan_seed(out, budget, suite, seed, fractions, data_root)
    book = seed_ledger(ledger, budget, plan) if ledger is not None else None
    parts = Parts(out, log, ledger=book, about=plan.about(budget))
    for cells in plan.rows.values():
        for key in rows:
            for part in cells[key]:
                parts.run(part)
    return seed_table(plan, parts.done)


def seed_table(plan: SeedPlan, done: Callable[[Part], dict[str, Any] | None]) -> dict[str, Any]:
    """The seed's rows from its parts' records (``done(part)``: the record for the part's current config, or
    None): {"rows": {pct: {row: {task: score}}}, "meta": {task: metric, chance}, walls, machines, ...}. A row is
    in the table when every one of its parts is recorded."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    meta: dict[str, dict[str, Any]] = {}
    walls: dict[str, float] = {}
    machines: set[tuple[int, float]] = set()
    for pct, cells in plan.rows.items():
        table[pct] = {}
        for key, ps in cells.items():
            recs = [rec for p in ps if (rec := done(p)) is not None]
            if len(recs) < len(ps):
                continue
            if key == "f":  # one score per start, of the held-out dataset
                table[pct]["f"] = {k: next(iter(rec["scores"].values()))["value"] for (k, _), rec in zip(UNSEEN, recs)}
            else:
                scores = {t: s for rec in recs for t, s in rec["scores"].items()}
                table[pct][key] = {t: s["value"] for t, s in scores.items()}
                meta |= {t: {"metric": s["metric"], "chance": s["chance"]} for t, s in scores.items()}
            walls[key] = walls.get(key, 0.0) + sum(rec["wall_s"] for rec in recs)
            machines |= {(rec["threads"], rec["matmul_gflops"]) for rec in recs}
    pretrain_walls = {k: rec["wall_s"] for k in ("pt-mixed", "pt-single") if (rec := done(plan.starts[k]))}
    return {
        "seed": plan.seed,
        "suite": plan.suite,
        "tasks": plan.tasks,
        "groups": plan.groups,
        "held_out": plan.held_out,
        "rows": table,
        "meta": meta,
        "wall_s": walls,
        "pretrain_wall_s": pretrain_walls,
        "machines": sorted(machines),
    }


def ledger_tables(
    ledger: str | Path,
    budget: ScarceBudget,
    suite: str,
    seeds: list[int],
    fractions: list[float],
    rows: list[str],
    data_root: str = "",
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Every seed's table from the ledger alone (nothing runs): (the tables of seeds with any row, the wanted
    ``rows`` x ``fractions`` not yet recorded, the recorded parts whose config differs from the code's)."""
    runs, missing, mismatched = [], [], []
    for k in seeds:
        run, absent, stale = _ledger_seed(ledger, budget, suite, k, fractions, rows, data_root)
        runs += [run] if any(run["rows"].values()) else []
        missing += absent
        mismatched += stale
    return runs, missing, mismatched


def _ledger_seed(
    ledger: str | Path,
    budget: ScarceBudget,
    suite: str,
    seed: int,
    fractions: list[float],
    rows: list[str],
    data_root: str,
) -> tuple[dict[str, Any], list[str], list[str]]:
    plan = plan_seed(Path(ledger), budget, suite, seed, fractions, data_root, need_data=False)  # fns never run
    book = seed_ledger(ledger, budget, plan)

    def done(p: Part) -> dict[str, Any] | None:
        return book.find(p.name, p.hash)

    mismatched = []
    for p in [*plan.starts.values(), *(p for cells in plan.rows.values() for ps in cells.values() for p in ps)]:
        if (rec := book.read(p.name)) is not None and rec.get("config_hash") != p.hash:
            mismatched.append(f"seed {seed}: {p.name} (recorded for config {rec.get('config_hash')}, now {p.hash})")
    missing = []
    for pct, cells in plan.rows.items():
        if absent := [key for key in rows if any(done(p) is None for p in cells[key])]:
            missing.append(f"seed {seed}, {pct} % labels: rows {', '.join(absent)}")
    return seed_table(plan, done), missing, mismatched


def unseen_part(
    out: Path, cfg: RunConfig, held_out: str, steps: int, fraction: float, start: str
) -> Callable[[Path], dict[str, Any]]:
    """Row (f) from ``start``: the held-out dataset through the bring-your-own path (its splits written once as
    PNG class folders under ``out/heldout-data``), with the same labels and steps as every other row."""

    def fn(folder: Path) -> dict[str, Any]:
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


__all__ = [
    "PROTOCOL",
    "SeedPlan",
    "ledger_tables",
    "plan_seed",
    "run_seed",
    "seed_ledger",
    "seed_table",
]
