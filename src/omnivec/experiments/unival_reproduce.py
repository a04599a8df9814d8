"""``omnivec reproduce-unival``: the UnIVAL claims over seeds, regenerating docs/results_unival.md.

Per seed (every part resumable, :class:`omnivec.experiments.parts.Parts`, under ``WORK/seed-<k>/``):

1. multitask pretraining with the curriculum (first half image-text, then + video-text; no audio), and the same
   steps without it (every task from step 0): each task's metric and the share of repeated phrases;
2. summarisation fine-tuned from the curriculum model;
3. two specialists fine-tuned from it (image captioning, VQA), merged by four methods over a grid: linear
   interpolation (α), the uniform soup (α = 0.5 average), task arithmetic and TIES (λ scaling the task vectors
   from the pretrained model); whether some α keeps >= 95 % of both specialists, in every seed;
4. the unseen modality: spoken-digit captioning from the image+video model vs from random weights, with 5 %,
   20 % and 100 % of the audio captions (``label_fraction``), where transfer can show.

Claims are paired differences over seeds with Student-t 95 % intervals (:mod:`omnivec.experiments.stats`).
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from omnivec.errors import OmnivecError
from omnivec.experiments.parts import Part, Parts
from omnivec.experiments.reproduce import write_section
from omnivec.experiments.stats import mean_std, paired
from omnivec.families.unival.config import UnivalRunConfig, unival_preset
from omnivec.families.unival.derived_tasks import STAGE1, STAGE2
from omnivec.families.unival.merging import merge_grid
from omnivec.families.unival.train import finetune, pretrain
from omnivec.training.checkpoint import atomic_write_text

BUDGETS: dict[str, dict[str, int]] = {
    # steps are optimizer steps; batch = samples per task per step
    "tiny": dict(num_train=64, num_test=16, pre_steps=6, ft_steps=4, audio_steps=4, batch=8, eval_limit=16),
    "small": dict(num_train=500, num_test=50, pre_steps=60, ft_steps=30, audio_steps=60, batch=8, eval_limit=50),
    # every image/video task leaves chance; wall time per seed in docs/results_unival.md (about 30 min alone on 2 cores)
    "medium": dict(
        num_train=2000, num_test=100, pre_steps=1000, ft_steps=300, audio_steps=300, batch=8, eval_limit=100
    ),
    # twice the steps and 4x the samples for the tasks that ask which digit is where (BINDING_TASKS): in the
    # 8-task mix at 2000 steps, one seed, VQA 0.50 -> 0.65, grounding 0.28 -> 0.43 against batch 8 for every
    # task (docs/unival.md); not yet run as a page
    "full": dict(
        num_train=2000,
        num_test=100,
        pre_steps=2000,
        ft_steps=300,
        audio_steps=300,
        batch=8,
        binding_batch=32,
        eval_limit=100,
    ),
}
MERGES: dict[str, list[float]] = {
    "linear": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
    "soup": [0.5],  # the uniform average of the two fine-tunes
    "task-arithmetic": [0.2, 0.4, 0.6, 0.8, 1.0],
    "ties": [0.2, 0.4, 0.6, 0.8, 1.0],
}
"""Merging methods and their grids (α for linear, λ for the task-vector methods)."""
BINDING_TASKS = ("vqa_image", "grounding_image", "detect_image")
"""The tasks whose answer depends on which digit is where: a budget's ``binding_batch`` (when set) is their
samples per step (``task_batch``); the phrase-to-digit binding is learnt late, after several times the samples
the other tasks need (docs/unival.md, "Which digit a phrase names")."""
AUDIO_FRACTIONS = (5.0, 20.0, 100.0)
SPECIALIST_LR = 5e-4
"""The two merged specialists fine-tune at a quarter of the pretraining lr (2e-3), as UnIVAL fine-tunes below its
pretraining lr: measured on seed 0 of the medium budget, the caption specialist reached CIDEr-D 2.45 at 5e-4
(docs/results_unival.md, "Merging")."""
NUM_BINS = 32
"""Location bins (2 pixels of the 64-pixel canvas): locating the only digit reached acc@IoU>=0.5 0.74 in 500 steps
against 0.33 with 64 bins (and 0.45 with 16, whose rounding alone costs IoU; docs/unival.md)."""
KEEP = 0.95
TARGETS: dict[str, float] = {
    "caption_image": 2.0,
    "vqa_image": 0.60,
    "grounding_image": 0.50,
    "matching_image": 0.80,
    "caption_audio": 3.0,
}
"""The issue's goal for each task's primary metric (CIDEr-D on the pycocoevalcap scale, VQA accuracy, acc@IoU>=0.5,
accuracy); captions also need no repeated phrase in the first 20 test outputs, merging >= 95 % of both
specialists at some α in every seed. The page says which are met in every seed."""
SECTION = "reproduce-unival"


def _cfg(b: dict[str, int], steps: int, data_root: str, seed: int, fraction: float = 1.0) -> UnivalRunConfig:
    cfg = unival_preset("tiny", num_bins=NUM_BINS)
    cfg.num_train, cfg.num_test, cfg.data_root = b["num_train"], b["num_test"], data_root
    cfg.train.max_steps, cfg.train.batch_size = steps, b["batch"]
    cfg.train.warmup_steps = max(1, steps // 10)
    cfg.train.log_every = max(1, steps // 20)
    cfg.train.lr = 2e-3
    cfg.train.seed = seed
    cfg.train.label_fraction = fraction
    if b.get("binding_batch"):
        cfg.task_batch = {t: b["binding_batch"] for t in BINDING_TASKS}
    return cfg


def _task_scores(results: dict[str, Any]) -> dict[str, Any]:
    keep = ("task", "modality", "metric", "value", "repeats", "cider_d", "bleu4", "rougeL", "rouge1", "rouge2")
    return {t: {k: r[k] for k in keep if k in r} | {"examples": r.get("examples", [])[:1]} for t, r in results.items()}


def run_seed(
    work: Path, budget: str, seed: int, data_root: str, fractions: tuple[float, ...], log: Any = print
) -> dict[str, Any]:
    """Every part of one seed; returns its scores (see the module docstring)."""
    b = BUDGETS[budget]
    el = b["eval_limit"]
    parts = Parts(work, log, "reproduce-unival")

    def pre(curriculum: bool) -> Any:
        def fn(folder: Path) -> dict[str, Any]:
            cfg = _cfg(b, b["pre_steps"], data_root, seed)
            cfg.stage1_steps = b["pre_steps"] // 2 if curriculum else 0
            return _task_scores(pretrain(cfg, folder, [*STAGE1, *STAGE2], progress=False, eval_limit=el))

        return fn

    def ft(parent: str | None, task: str, steps: int, fraction: float = 1.0, lr: float = 0.0) -> Any:
        def fn(folder: Path) -> dict[str, Any]:
            cfg = _cfg(b, steps, data_root, seed, fraction)
            cfg.train.lr = lr or cfg.train.lr
            start = work / parent if parent else None
            return _task_scores(finetune(start, [task], folder, cfg, progress=False, eval_limit=el))

        return fn

    def merge(method: str) -> Any:
        def fn(folder: Path) -> dict[str, Any]:
            pretrained = work / "pretrain" if method in ("task-arithmetic", "ties") else None
            kind = "average" if method == "soup" else method
            table = merge_grid(
                [work / "ft_caption", work / "ft_vqa"],
                folder,
                kind,
                MERGES[method],
                pretrained=pretrained,
                eval_tasks=["caption_image", "vqa_image"],
                eval_limit=el,
            )
            for r in table["rows"]:  # the merged weights are not kept: a row's scores are the result
                shutil.rmtree(r["run"], ignore_errors=True)
            return {"rows": [{k: r[k] for k in ("alpha", "caption_image", "vqa_image")} for r in table["rows"]]}

        return fn

    out: dict[str, Any] = {"seed": seed, "walls": {}}

    def part(name: str, fn: Any) -> dict[str, Any]:
        p = parts.run(Part(name, fn))  # work folder only: no ledger yet (docs/recipe.md)
        out["walls"][name] = p["wall_s"]
        return p["scores"]

    out["multitask"] = part("pretrain", pre(True))
    out["no_curriculum"] = part("pretrain-no-curriculum", pre(False))
    out["summarize"] = part("ft_summarize", ft("pretrain", "summarize_text", b["ft_steps"]))
    out["caption_specialist"] = part("ft_caption", ft("pretrain", "caption_image", b["ft_steps"], lr=SPECIALIST_LR))
    out["vqa_specialist"] = part("ft_vqa", ft("pretrain", "vqa_image", b["ft_steps"], lr=SPECIALIST_LR))
    out["merge"] = {m: part(f"merge-{m}", merge(m))["rows"] for m in MERGES}
    out["audio"] = {}
    for fr in fractions:
        pct = f"{fr:g}"
        a = part(f"audio-{pct}-pretrained", ft("pretrain", "caption_audio", b["audio_steps"], fr / 100))
        s = part(f"audio-{pct}-scratch", ft(None, "caption_audio", b["audio_steps"], fr / 100))
        out["audio"][pct] = {"pretrained": a["caption_audio"], "scratch": s["caption_audio"]}
    return out


def reproduce(
    work: str | Path,
    out: str | Path = "docs/results_unival.md",
    budget: str = "small",
    data_root: str = "",
    seeds: int = 3,
    seed: int = 0,
    fractions: tuple[float, ...] = AUDIO_FRACTIONS,
    log: Any = print,
) -> dict[str, Any]:
    """Run (or resume) ``seeds`` seeds into ``work/seed-<k>`` and write ``out`` with its figures."""
    if budget not in BUDGETS:
        raise OmnivecError(f"unknown budget {budget!r}; expected one of {', '.join(BUDGETS)}")
    if seeds < 1:
        raise OmnivecError(f"--seeds must be at least 1, got {seeds}")
    work, out = Path(work), Path(out)
    t0 = time.perf_counter()
    runs = [run_seed(work / f"seed-{k}", budget, k, data_root, fractions, log) for k in range(seed, seed + seeds)]
    summary = {"budget": budget, "settings": BUDGETS[budget], "runs": runs, "wall_s": time.perf_counter() - t0}
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    fig_dir = out.parent / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    plot_merges(runs, fig_dir / "unival_lambda_curve.png")
    cmd = f"omnivec reproduce-unival --budget {budget} --seeds {seeds} --seed {seed} --work {work}"
    if f"<!-- {SECTION}:start -->" not in (out.read_text() if out.is_file() else ""):
        atomic_write_text(out, "# UnIVAL recipe: results\n\n")  # a page of an older layout starts afresh
    write_section(out, render(summary, cmd), SECTION)  # a hand-written reading after the section stays
    return summary


# ------------------------------------------------------------------------------------------------ the page


def _verdict(values: list[float], goal: float) -> str:
    if min(values) >= goal:
        return "**yes**"
    return "on the mean only" if sum(values) / len(values) >= goal else "no"


def _targets(runs: list[dict[str, Any]]) -> list[str]:
    """The rows of the goals table (:data:`TARGETS`)."""
    rows = []
    for task, goal in TARGETS.items():
        if task == "caption_audio":
            if "100" not in runs[0]["audio"]:
                continue
            vals = [r["audio"]["100"]["pretrained"]["value"] for r in runs]
        else:
            vals = [r["multitask"][task]["value"] for r in runs]
        metric = runs[0]["multitask"].get(task, {}).get("metric", "cider_d")
        rows.append(f"| {task} | {metric} ≥ {goal:g} | {_ms(vals)} | {min(vals):.3f} | {_verdict(vals, goal)} |")
    reps = [r["multitask"]["caption_image"].get("repeats", 0.0) for r in runs]
    rows.append(f"| caption_image | no repeated phrase (first 20) | {_ms(reps)} | {max(reps):.3f} | "
                f"{'**yes**' if max(reps) == 0 else 'no'} |")  # fmt: skip
    merged = [f"{m} {a:g}" for m, grid in MERGES.items() for a in grid
              if (m != "linear" or 0 < a < 1) and all(a in keeps(r, m) for r in runs)]  # fmt: skip
    rows.append(f"| merging | ≥ 95 % of both, every seed | {', '.join(merged) or 'none'} | | "
                f"{'**yes**' if merged else 'no'} |")  # fmt: skip
    return rows


def keeps(run: dict[str, Any], method: str) -> list[float]:
    """The grid values at which ``method``'s merge keeps >= 95 % of both specialists' scores in ``run``."""
    cap = run["caption_specialist"]["caption_image"]["value"]
    vqa = run["vqa_specialist"]["vqa_image"]["value"]
    return [
        r["alpha"]
        for r in run["merge"][method]
        if cap > 0 and vqa > 0 and r["caption_image"] >= KEEP * cap and r["vqa_image"] >= KEEP * vqa
    ]


def _shares(runs: list[dict[str, Any]], method: str, i: int) -> tuple[tuple[float, float], tuple[float, float]]:
    def share(r: dict[str, Any], task: str, spec: str) -> float:
        s = r[spec][task]["value"]
        return r["merge"][method][i][task] / s if s > 0 else float("nan")

    return (
        mean_std([share(r, "caption_image", "caption_specialist") for r in runs]),
        mean_std([share(r, "vqa_image", "vqa_specialist") for r in runs]),
    )


def plot_merges(runs: list[dict[str, Any]], path: Path) -> None:
    """The λ-curves: each method's share of both specialists (mean over seeds, band = ± one std)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, task in zip(axes, ("caption", "vqa")):
        for method, grid in MERGES.items():
            stats = [_shares(runs, method, i)[0 if task == "caption" else 1] for i in range(len(grid))]
            m = [s[0] for s in stats]
            sd = [s[1] for s in stats]
            ax.plot(grid, m, marker="o", label=method)
            ax.fill_between(grid, [a - b for a, b in zip(m, sd)], [a + b for a, b in zip(m, sd)], alpha=0.2)
        ax.axhline(KEEP, color="gray", lw=0.8, ls="--")
        ax.set_title(f"{task}: share of its specialist")
        ax.set_xlabel("α (linear) / λ (task vectors)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ms(values: list[float]) -> str:
    m, s = mean_std(values)
    return f"{m:.3f} ± {s:.3f}"


def render(s: dict[str, Any], command: str) -> str:
    b, runs = s["settings"], s["runs"]
    seeds = [r["seed"] for r in runs]
    tasks = list(runs[0]["multitask"])
    rows = []
    for t in tasks:
        cur = [r["multitask"][t]["value"] for r in runs]
        nc = [r["no_curriculum"][t]["value"] for r in runs]
        p = paired(cur, nc)
        rep = _ms([r["multitask"][t].get("repeats", 0.0) for r in runs])
        ex = runs[0]["multitask"][t]["examples"]
        ex_text = f"`{ex[0]['prediction'][:50]}` / `{ex[0]['answer'][:50]}`" if ex else ""
        metric = runs[0]["multitask"][t]["metric"]
        rows.append(f"| {t} | {metric} | {_ms(cur)} | {_ms(nc)} | {p} {p.verdict} | {rep} | {ex_text} |")
    summ = runs[0]["summarize"]["summarize_text"]
    summ_vals = _ms([r["summarize"]["summarize_text"]["value"] for r in runs])
    merge_lines = []
    for method, grid in MERGES.items():
        every = [a for a in grid if all(a in keeps(r, method) for r in runs)]
        for i, a in enumerate(grid):
            (cm, cs), (vm, vs) = _shares(runs, method, i)
            ok = "yes" if a in every else "no"
            merge_lines.append(f"| {method} | {a:g} | {cm:.0%} ± {cs:.0%} | {vm:.0%} ± {vs:.0%} | {ok} |")
    verdicts = []
    for method, grid in MERGES.items():
        every = [a for a in grid if all(a in keeps(r, method) for r in runs)]
        inner = [a for a in every if method != "linear" or 0 < a < 1]  # linear's endpoints are the specialists
        verdicts.append(
            f"- **{method}**: "
            + (f"keeps ≥ 95 % of both at {', '.join(f'{a:g}' for a in inner)} in every seed" if inner else "no")
        )
    audio = []
    for pct in runs[0]["audio"]:
        pre = [r["audio"][pct]["pretrained"]["value"] for r in runs]
        scr = [r["audio"][pct]["scratch"]["value"] for r in runs]
        p = paired(pre, scr)
        audio.append(f"| {pct} % | {_ms(pre)} | {_ms(scr)} | {p} | **{p.verdict}** |")
    targets = _targets(runs)
    cap = _ms([r["caption_specialist"]["caption_image"]["value"] for r in runs])
    vqa = _ms([r["vqa_specialist"]["vqa_image"]["value"] for r in runs])
    walls = sum(sum(r["walls"].values()) for r in runs) / len(runs) / 60
    binding = f" ({', '.join(BINDING_TASKS)}: {b['binding_batch']})" if b.get("binding_batch") else ""
    return f"""Regenerate with `{command}` (resumable: finished parts are kept; writes this file and
`docs/figures/unival_lambda_curve.png`). Design: [unival.md](unival.md).

**Budget ({s["budget"]})**: tiny preset (D=64, trunk depth 2, decoder depth 2), {NUM_BINS}
location bins, conv-stem patch encoders without per-position norms (docs/unival.md, "Encoders"), stage-1 tasks
{", ".join(STAGE1)} (then {", ".join(STAGE2)} added),
{b["num_train"]} training samples per derived task, batch {b["batch"]} per task per step{binding}, pretraining
{b["pre_steps"]} steps, fine-tuning {b["ft_steps"]} steps
(the two merged specialists at lr {SPECIALIST_LR:g}, everything else at 2e-3), audio {b["audio_steps"]} steps,
greedy decoding, metrics on
the first {b["eval_limit"]} test samples per task. Seeds {seeds}; cells are mean ± std over seeds, claims paired
differences with Student-t 95 % intervals. CPU ({platform.machine()}, torch {torch.__version__}, 2 cores shared
with other jobs): **{walls:.1f} min per seed**.

## The goals

Each task's goal against the multitask (curriculum) model; audio captioning is the pretrained start with all its
captions; merging needs one α or λ of one method that keeps ≥ 95 % of both specialists in every seed. *met* = in
every seed.

| task | goal | mean ± std | worst seed | met |
|---|---|---|---|---|
{chr(10).join(targets)}

## 1. The multitask model on every task, with and without the curriculum

Curriculum: the first half of the steps image-text tasks only, then + video-text; without: every task from the
first step, same steps. *repeats* = share of the first 20 test outputs that repeat a 3-word phrase. Example =
seed {seeds[0]}'s first test prediction / reference.

| task | metric | curriculum | no curriculum | difference [95 % CI] | repeats | example |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

`summarize_text` fine-tuned from it for {b["ft_steps"]} steps (SciTLDR is not in the pretraining mix):
{summ["metric"]} {summ_vals}.

## 2. Merging a captioning model with a VQA model

Both specialists fine-tuned from the curriculum model ({b["ft_steps"]} steps each; caption CIDEr-D {cap}, VQA
accuracy {vqa}). Each cell is the merged model's score as a share of that seed's specialist; *every seed* = the
merge keeps ≥ 95 % of both specialists in every seed. Linear α = 0 / 1 are the specialists themselves.

| method | α / λ | caption_image | vqa_image | ≥ 95 % of both, every seed |
|---|---|---|---|---|
{chr(10).join(merge_lines)}

{chr(10).join(verdicts)}

![λ-curves](figures/unival_lambda_curve.png)

## 3. Unseen modality: audio captioning with scarce audio

Audio is never in pretraining. Spoken-digit captioning (FSDD) fine-tuned for {b["audio_steps"]} steps from the
image+video model vs from random weights (same architecture and vocabulary), with a seeded share of the audio
captions:

| audio captions | pretrained CIDEr-D | scratch CIDEr-D | difference [95 % CI] | verdict |
|---|---|---|---|---|
{chr(10).join(audio)}
"""


__all__ = ["AUDIO_FRACTIONS", "BUDGETS", "MERGES", "keeps", "render", "reproduce", "run_seed"]
