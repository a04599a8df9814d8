"""The main job: train ONE model (one trunk) on a classification task in each of the five modalities plus an
image segmentation task, evaluate it, and write ``report.md``, ``metrics.json`` and plots. Sized to finish in
about five minutes on a 2-core CPU."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from omnivec import checkpoint as ckpt
from omnivec.catalog import GENERATED_SUITE
from omnivec.config import RunConfig, preset
from omnivec.train import train


def quickstart_config(seed: int = 0, data_root: str = "", suite: list[str] | None = None) -> RunConfig:
    cfg = preset("small")
    cfg.model.embed_dim, cfg.model.depth, cfg.model.num_heads = 128, 4, 4
    cfg.model.encoders["text"]["vocab_size"] = 2048
    cfg.model.encoders["text"]["max_length"] = 32  # covers 94 % of Banking77 queries whole
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.lr, cfg.train.warmup_steps = 300, 32, 2e-3, 30
    cfg.train.log_every = 10
    cfg.train.seed = seed
    cfg.num_train, cfg.num_test = 3000, 500
    cfg.train_limit, cfg.test_limit = 3000, 500  # real datasets: a fixed, seeded subset keeps it to minutes
    cfg.data_root = data_root
    cfg.tasks = list(suite or GENERATED_SUITE)
    return cfg


def write_report(out: Path, results: dict[str, dict[str, Any]], cfg: RunConfig, wall: float, source: str) -> None:
    rows = [
        {
            "task": r["task"],
            "modality": r["modality"],
            "kind": r["kind"],
            "metric": r["metric"],
            "chance": round(float(r["chance"]), 4),
            "value": round(float(r["value"]), 4),
        }
        for r in results.values()
    ]
    ckpt.atomic_write_text(
        out / "metrics.json",
        json.dumps(
            {"data": source, "wall_seconds": round(wall, 1), "steps": cfg.train.max_steps, "tasks": rows},
            indent=2,
        ),
    )
    lines = [
        "# omnivec quickstart",
        "",
        f"One model (one shared trunk: width {cfg.model.embed_dim}, depth {cfg.model.depth}) trained for "
        f"{cfg.train.max_steps} steps on {len(rows)} tasks at once; data: **{source}**. Wall time: {wall:.0f} s.",
        "",
        "| task | modality | metric | chance | result |",
        "|---|---|---|---|---|",
        *[f"| {r['task']} | {r['modality']} | {r['metric']} | {r['chance']:.3f} | {r['value']:.3f} |" for r in rows],
        "",
        "Chance: the majority class's share for accuracy; for mIoU, the mIoU of predicting the most frequent class "
        "everywhere. Plots: `loss.png` (training losses), `results.png` (result against chance).",
        "",
    ]
    ckpt.atomic_write_text(out / "report.md", "\n".join(lines))
    plot_results(rows, out / "results.png")


def plot_results(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["chance"] for r in rows], width=0.4, label="chance", color="#bbbbbb")
    ax.bar([x + 0.2 for x in xs], [r["value"] for r in rows], width=0.4, label="omnivec", color="#3060a0")
    ax.set_xticks(list(xs), [f"{r['task']}\n({r['modality']}, {r['metric']})" for r in rows], fontsize=7)
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    ckpt.atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)


def quickstart(out: str | Path, seed: int = 0, data_root: str = "", progress: bool = True) -> dict[str, Any]:
    """Real data when the data root has it (issue: the quickstart says which), the generated suite otherwise."""
    from omnivec.data.tasks import real_suite

    out = Path(out)
    t0 = time.perf_counter()
    suite = real_suite(data_root)
    source = (
        f"real datasets from {data_root or 'OMNIVEC_DATA'} (MNIST, FSDD, Banking77 and tasks derived from "
        "them; a seeded subset of at most 3000 training / 500 test samples each)"
        if suite
        else "built-in generated data (no data root with MNIST, FSDD and Banking77 was found)"
    )
    cfg = quickstart_config(seed, data_root, suite)
    run_dir = out / "run"
    if (run_dir / ckpt.TRAIN_STATE).exists():
        import shutil

        shutil.rmtree(run_dir)  # the quickstart always starts fresh
    results = train(cfg, run_dir, progress=progress)
    wall = time.perf_counter() - t0
    if (run_dir / "loss.png").is_file():
        (out / "loss.png").write_bytes((run_dir / "loss.png").read_bytes())
    write_report(out, results, cfg, wall, source)
    return results
