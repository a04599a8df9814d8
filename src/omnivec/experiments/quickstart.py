"""The main job: train ONE model (one trunk) on a classification task in each of the five modalities plus an
image segmentation task, train a strong small specialist per task on the same samples for the same steps, and
write ``report.md``, ``metrics.json`` and plots with both side by side. Sized for about five minutes on a
2-core CPU."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from omnivec.api.train import prepare_tasks, train
from omnivec.config import RunConfig, preset
from omnivec.data.task_catalog import GENERATED_SUITE
from omnivec.nn.encoders.audio import AudioEncoderConfig
from omnivec.nn.encoders.text import TextEncoderConfig
from omnivec.nn.encoders.video import VideoEncoderConfig
from omnivec.training import checkpoint as ckpt

PASS_RATIO = 0.98
"""A task passes when omnivec scores at least this share of its baseline's score."""


def quickstart_config(seed: int = 0, data_root: str = "", suite: list[str] | None = None) -> RunConfig:
    cfg = preset("cpu")  # width 128, depth 4, 4 heads; text vocabulary 2048
    # 300 steps show each sample ~3 times: shifting clips and shifting/noising audio cost a little there
    # (moving-digits 0.942 -> 0.930, fsdd 0.980 -> 0.973 with them on), image shifts pay (mnist 0.976 -> 0.983,
    # digit-scenes 0.757 -> 0.788). docs/learning.md.
    video, audio, text = (cfg.model.encoders[m] for m in ("video", "audio", "text"))
    assert isinstance(video, VideoEncoderConfig) and isinstance(audio, AudioEncoderConfig)
    assert isinstance(text, TextEncoderConfig)
    video.augment_shift = 0
    audio.augment_shift_s = 0.0
    audio.augment_noise = 0.0
    text.max_length = 32  # covers 94 % of Banking77 queries whole
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.lr, cfg.train.warmup_steps = 300, 32, 4e-3, 30
    cfg.train.log_every = 10
    cfg.train.seed = seed
    cfg.num_train, cfg.num_test = 3000, 1000
    cfg.train_limit, cfg.test_limit = 3000, 1000  # real datasets: a fixed, seeded subset keeps it to minutes
    cfg.data_root = data_root
    cfg.tasks = list(suite or GENERATED_SUITE)
    return cfg


def write_report(
    out: Path,
    results: dict[str, dict[str, Any]],
    baselines: dict[str, dict[str, Any]],
    cfg: RunConfig,
    times: dict[str, float],
    source: str,
) -> list[dict[str, Any]]:
    rows = []
    for r in results.values():
        b = baselines.get(r["task"], {})
        value, ref = float(r["value"]), float(b.get("value", float("nan")))
        rows.append(
            {
                "task": r["task"],
                "modality": r["modality"],
                "kind": r["kind"],
                "metric": r["metric"],
                "chance": round(float(r["chance"]), 4),
                "value": round(value, 4),
                "baseline": b.get("baseline", ""),
                "baseline_value": round(ref, 4),
                "baseline_seconds": round(float(b.get("seconds", 0.0)), 1),
                "ratio": round(value / ref, 3) if ref > 0 else None,
                "passes": bool(ref > 0 and value >= PASS_RATIO * ref),
            }
        )
    ckpt.atomic_write_text(
        out / "metrics.json",
        json.dumps(
            {
                "data": source,
                "wall_seconds": round(times["total"], 1),
                "omnivec_seconds": round(times["omnivec"], 1),
                "baseline_seconds": round(times["baselines"], 1),
                "steps": cfg.train.max_steps,
                "batch_size": cfg.train.batch_size,
                "tasks": rows,
            },
            indent=2,
        ),
    )
    passed = sum(r["passes"] for r in rows)
    lines = [
        "# omnivec quickstart",
        "",
        f"One model (one shared trunk: width {cfg.model.embed_dim}, depth {cfg.model.depth}) trained for "
        f"{cfg.train.max_steps} steps on {len(rows)} tasks at once, each task a {cfg.train.batch_size}-sample "
        f"sub-batch of every step; beside it, one reference specialist per task trained on the same samples for "
        f"the same {cfg.train.max_steps} x {cfg.train.batch_size}. Data: **{source}**.",
        "",
        f"Wall time: {times['total']:.0f} s (omnivec {times['omnivec']:.0f} s for all six tasks, the six "
        f"baselines {times['baselines']:.0f} s together). {passed} of {len(rows)} tasks reach at least "
        f"{PASS_RATIO:.2f} x their baseline."
        if baselines
        else f"Wall time: {times['total']:.0f} s (omnivec alone: the baselines were not trained, --no-baselines).",
        "",
        "| task | modality | metric | chance | omnivec | baseline | baseline score | omnivec / baseline |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {r['task']} | {r['modality']} | {r['metric']} | {r['chance']:.3f} | **{r['value']:.3f}** | "
            f"{r['baseline']} | {r['baseline_value']:.3f} | {_ratio(r)} |"
            for r in rows
        ],
        "",
        "Chance: the majority class's share for accuracy; for mIoU, the mIoU of predicting the most frequent class "
        "everywhere. Baselines (omnivec.experiments.baselines): a 3-layer CNN, a small U-Net, a small 3-D CNN, a CNN "
        "on the same log-mel spectrogram, PointNet, TF-IDF + linear SVM. Plots: `loss.png` (training losses), "
        "`results.png` (chance, baseline, omnivec per task).",
        "",
    ]
    if (out / "run" / ckpt.CONFIG).is_file():  # the run's own sections, as `omnivec report` writes them
        from omnivec.api.load import load
        from omnivec.api.report import run_sections

        lines += [
            "# The run in detail (`omnivec report`)",
            "",
            *run_sections(out / "run", out, load(out / "run", "cpu")),
        ]
    ckpt.atomic_write_text(out / "report.md", "\n".join(lines))
    plot_results(rows, out / "results.png")
    return rows


def _ratio(r: dict[str, Any]) -> str:
    if r["ratio"] is None:
        return "-"
    return f"{r['ratio']:.3f}" + ("" if r["passes"] else " (below 0.98)")


def plot_results(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    xs = range(len(rows))
    w = 0.27
    ax.bar([x - w for x in xs], [r["chance"] for r in rows], width=w, label="chance", color="#bbbbbb")
    ax.bar(xs, [r["baseline_value"] for r in rows], width=w, label="baseline (specialist)", color="#d08030")
    ax.bar([x + w for x in xs], [r["value"] for r in rows], width=w, label="omnivec (one model)", color="#3060a0")
    ax.set_xticks(list(xs), [f"{r['task']}\n({r['modality']}, {r['metric']})" for r in rows], fontsize=7)
    ax.set_ylim(0, 1.18)
    ax.legend(fontsize=7, loc="upper center", ncol=3, frameon=False)
    fig.tight_layout()
    ckpt.atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)


def quickstart(
    out: str | Path, seed: int = 0, data_root: str = "", progress: bool = True, baselines: bool = True
) -> list[dict[str, Any]]:
    """Real data when the data root has it (the report says which), the generated suite otherwise."""
    from omnivec.data.real_tasks import real_suite

    out = Path(out)
    t0 = time.perf_counter()
    suite = real_suite(data_root)
    source = (
        f"real datasets from {data_root or 'OMNIVEC_DATA'} (MNIST, FSDD, Banking77 and tasks derived from "
        "them; a seeded subset of at most 3000 training / 1000 test samples each)"
        if suite
        else "built-in generated data (no data root with MNIST, FSDD and Banking77 was found)"
    )
    cfg = quickstart_config(seed, data_root, suite)
    run_dir = out / "run"
    if (run_dir / ckpt.TRAIN_STATE).exists():
        import shutil

        shutil.rmtree(run_dir)  # the quickstart always starts fresh
    tasks = prepare_tasks(cfg, cfg.tasks)
    t1 = time.perf_counter()
    results = train(cfg, run_dir, progress=progress, tasks=tasks)
    t2 = time.perf_counter()
    refs = {}
    if baselines:
        from omnivec.experiments.baselines import Budget, train_baselines

        budget = Budget(steps=cfg.train.max_steps, batch_size=cfg.train.batch_size)
        refs = train_baselines(tasks, budget, cfg.train.seed, cfg.model.encoders.get("audio"), progress)
    t3 = time.perf_counter()
    times = {"total": t3 - t0, "omnivec": t2 - t1, "baselines": t3 - t2}
    if (run_dir / "loss.png").is_file():
        (out / "loss.png").write_bytes((run_dir / "loss.png").read_bytes())
    return write_report(out, results, refs, cfg, times, source)
