"""The pretraining study (docs/recipe.md, "What makes pretraining pay"): masked pretraining of the ``cpu`` model on
one dataset's unlabelled training split, then

- the frozen features' linear probe and k-NN, beside the same architecture with random weights, with 2,000 labels
  and with the fine-tuning's label count (``few_*``);
- fine-tuning with scarce labels from the pretrained and from the random start (same labels, same steps).

Each arm writes one JSON record under ``--results`` (committed: the numbers docs/recipe.md quotes trace to it).

    # one arm: pretrain, probe, fine-tune
    OMNIVEC_DATA=../shared/data python bench/pretrain_study.py run --tag lat --task mnist --steps 3000 \\
        --objective latent --set pretrain.global_weight=1 --set model.encoders.image.patch_size=4
    # the length curve: every checkpoint of a pretraining run (written with checkpoint_every), probed and fine-tuned
    OMNIVEC_DATA=../shared/data python bench/pretrain_study.py curve RUN --tag px-long --task mnist
    # the table in docs/recipe.md, from the records alone
    python bench/pretrain_study.py render --tag -

``--set`` takes ``pretrain.FIELD=V`` (PretrainConfig), ``finetune.FIELD=V`` (the fine-tuning TrainConfig, e.g.
``finetune.layer_decay=0.75``) and any RunConfig field (``model.encoders.image.patch_size=4``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from omnivec.api.finetune import finetune
from omnivec.api.pretrain import PretrainConfig, pretrain
from omnivec.api.probe import probe_report, random_twin
from omnivec.api.train import prepare_tasks
from omnivec.config import RunConfig, TrainConfig, apply_override, preset
from omnivec.experiments.ledger import provenance
from omnivec.runs import load_run, save_run


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def probes(folder: Path, task: str, few: int, seed: int) -> dict[str, float]:
    """Linear probe and k-NN of the run folder's frozen features (and its random twin's), at 2,000 labels and at
    ``few``."""
    model, run_cfg = load_run(folder)
    tasks = prepare_tasks(run_cfg, [task])
    full = probe_report(model, tasks, seed=seed)[0]
    scarce = probe_report(model, tasks, num_train=few, seed=seed)[0]
    keys = ("linear", "random_linear", "knn", "random_knn")
    return {**{k: full[k] for k in keys}, **{f"few_{k}": scarce[k] for k in keys}}


def fine_tune(start: Path, task: str, out: Path, ft: TrainConfig) -> float:
    shutil.rmtree(out, ignore_errors=True)
    return float(finetune(start, [task], out, ft, [[task]], 1, progress=False)[task]["value"])


def random_start(folder: Path, out: Path, seed: int) -> Path:
    """``folder``'s architecture (and tokenizer) with fresh seeded weights."""
    model, run_cfg = load_run(folder)
    save_run(random_twin(model, seed), run_cfg, out)
    return out


def settings(a: argparse.Namespace) -> tuple[RunConfig, PretrainConfig, TrainConfig]:
    cfg = preset("cpu")
    cfg.tasks, cfg.data_root = [a.task], os.environ.get("OMNIVEC_DATA", "")
    cfg.train_limit, cfg.test_limit = a.train_limit, 1000
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.lr, cfg.train.seed = a.steps, a.batch_size, a.lr, a.seed
    cfg.train.warmup_steps, cfg.train.log_every = max(1, a.steps // 20), max(1, a.steps // 20)
    pcfg = PretrainConfig(objective=a.objective)
    ft = TrainConfig(**asdict(preset("cpu").train))
    ft.max_steps, ft.label_fraction, ft.seed = a.ft_steps, a.labels, a.seed
    ft.warmup_steps, ft.log_every = max(1, a.ft_steps // 10), max(1, a.ft_steps // 10)
    for item in a.set:
        key, value = item.split("=", 1)
        if key.startswith("pretrain."):
            pcfg = replace(pcfg, **{key.split(".", 1)[1]: _value(value)})
        elif key.startswith("finetune."):
            setattr(ft, key.split(".", 1)[1], _value(value))
        else:
            cfg = apply_override(cfg, item)
    return cfg, pcfg, ft


def record(a: argparse.Namespace, name: str, rec: dict[str, Any]) -> None:
    rec = {"tag": a.tag, "task": a.task, "set": a.set, "labels": a.labels, "ft_steps": a.ft_steps, **rec}
    rec.update(provenance())
    print(json.dumps(rec))
    out = Path(a.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(rec, indent=2) + "\n")


def cmd_run(a: argparse.Namespace) -> None:
    cfg, pcfg, ft = settings(a)
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    s = pretrain(cfg, work / "pt", pcfg, progress=False, probe=False)
    rec: dict[str, Any] = {
        "steps": a.steps,
        "passes": a.steps * a.batch_size / a.train_limit,
        "objective": pcfg.objective,
        "pretrain": asdict(pcfg),
        "pt_loss": s["last"].get("loss"),
        "pt_wall_s": round(time.perf_counter() - t0, 1),
        **probes(work / "pt", a.task, int(a.labels * a.train_limit), a.seed),
    }
    if a.labels > 0:
        rec["ft_pretrained"] = fine_tune(work / "pt", a.task, work / "ft-pt", ft)
        rec["ft_random"] = fine_tune(random_start(work / "pt", work / "init", a.seed), a.task, work / "ft-init", ft)
    record(a, a.tag, rec)


def cmd_curve(a: argparse.Namespace) -> None:
    """Every checkpoint of ``a.run`` (a pretraining run folder) probed and fine-tuned; the random start once."""
    _, _, ft = settings(a)
    run, work = Path(a.run), Path(a.work)
    few = int(a.labels * a.train_limit)
    base = fine_tune(random_start(run, work / "init", a.seed), a.task, work / "ft-init", ft)
    for ckpt in sorted((run / "checkpoints").glob("ckpt-*")):
        step = int(ckpt.name.split("-")[1])
        if step == 0:
            continue
        rec = {"step": step, **probes(ckpt, a.task, few, a.seed), "ft_random": base}
        rec["ft_pretrained"] = fine_tune(ckpt, a.task, work / f"ft-{step}", ft)
        record(a, f"{a.tag}-step{step:06d}", rec)


def cmd_seeds(a: argparse.Namespace) -> None:
    """Fine-tuning seeds from one pretraining run (``a.run``) and from its random twin: each seed draws its own
    labels (the seeded subset) and order, the same for both starts, so the pair is a paired difference."""
    run, work = Path(a.run), Path(a.work)
    for seed in range(a.seed, a.seed + a.num_seeds):
        a.seed = seed
        _, _, ft = settings(a)
        rec = {
            "run": str(run),
            "seed": seed,
            "ft_pretrained": fine_tune(run, a.task, work / f"ft-pt-{seed}", ft),
            "ft_random": fine_tune(
                random_start(run, work / f"init-{seed}", seed), a.task, work / f"ft-init-{seed}", ft
            ),
        }
        record(a, f"{a.tag}-seed{seed}", rec)


COLUMNS = (
    ("linear", "probe"),
    ("random_linear", "random"),
    ("knn", "k-NN"),
    ("random_knn", "random"),
    ("few_linear", "probe@100"),
    ("few_random_linear", "random"),
    ("ft_pretrained", "fine-tuned"),
    ("ft_random", "from random"),
)


def render(results: Path, page: Path) -> str:
    """The study table of docs/recipe.md from the records under ``results`` (between its markers)."""
    rows, extra, seeds = [], [], {}
    for f in sorted(results.glob("*.json")):
        r = json.loads(f.read_text())
        if "seed" in r and "linear" not in r and "ft_pretrained" in r:  # a `seeds` record: paired, summarised below
            seeds.setdefault(r["tag"], []).append(r)
            continue
        if "linear" not in r:
            continue
        steps = r.get("step", r.get("steps"))
        if steps is None:  # the supervised reference
            extra.append(
                f"Supervised reference (`{f.stem}`): {r['what']}; probe {r['linear']:.3f}, k-NN {r['knn']:.3f}"
            )
            continue
        what = f"`{f.stem}`: {r.get('objective', 'pixels')}, {', '.join(r.get('set') or []) or 'defaults'}"
        cells = [f"{r[k]:.3f}" if isinstance(r.get(k), float) else "-" for k, _ in COLUMNS]
        passes = steps * 64 / 10000
        rows.append(f"| {what} | {r['task']} | {steps} ({passes:.0f}) | " + " | ".join(cells) + " |")
    head = "| arm (record) | data | steps (passes) | " + " | ".join(n for _, n in COLUMNS) + " |"
    from omnivec.experiments.stats import paired

    for tag, recs in seeds.items():
        d = paired([r["ft_pretrained"] for r in recs], [r["ft_random"] for r in recs])
        extra.append(
            f"Fine-tuning seeds (`{tag}-seed*`, {recs[0]['run']}): pretrained − random start {d.diff:+.3f} "
            f"[{d.low:+.3f}, {d.high:+.3f}] over {d.n} paired seeds (labels and order drawn per seed)"
        )
    lines = [head, "|---|---|---|" + "---|" * len(COLUMNS), *rows]
    table = "\n".join([*lines, "", *(f"- {e}" for e in extra)])
    start, end = "<!-- pretrain-study:start -->", "<!-- pretrain-study:end -->"
    text = page.read_text()
    if start in text:
        text = text[: text.index(start)] + f"{start}\n{table}\n{end}" + text[text.index(end) + len(end) :]
        page.write_text(text)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["run", "curve", "seeds", "render"])
    ap.add_argument("--num-seeds", type=int, default=3, help="seeds: fine-tuning seeds from --seed")
    ap.add_argument("run", nargs="?", help="curve: the pretraining run folder")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--task", default="mnist")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--objective", default="pixels")
    ap.add_argument("--train-limit", type=int, default=10000)
    ap.add_argument("--labels", type=float, default=0.01, help="label fraction for fine-tuning (0: skip)")
    ap.add_argument("--ft-steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--work", default="/tmp/pt-study")
    ap.add_argument("--results", default="results/pretrain-study")
    a = ap.parse_args()
    if a.mode == "render":
        print(render(Path(a.results), Path(__file__).parents[1] / "docs" / "recipe.md"))
    else:
        {"run": cmd_run, "curve": cmd_curve, "seeds": cmd_seeds}[a.mode](a)


if __name__ == "__main__":
    main()
