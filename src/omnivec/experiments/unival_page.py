"""The page of ``omnivec reproduce-unival`` (docs/results_unival.md) from the parts' records alone: the goals
table with a verdict per goal, curriculum vs none, merging per method, scarce audio, each claim a paired
difference over seeds with its Student-t 95 % interval (:mod:`omnivec.experiments.stats`).

:func:`seed_run` gathers one seed's scores from its parts' records (:mod:`omnivec.experiments.unival_plan`); a seed
is on the page when every part is recorded, and the parts still missing are listed under the tables as pending.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omnivec.experiments.ledger import machines_text
from omnivec.experiments.parts import Part
from omnivec.experiments.stats import mean_std, paired
from omnivec.experiments.unival_plan import BINDING_TASKS, MERGES, NUM_BINS, SPECIALIST_LR, stage_ends
from omnivec.families.unival.derived_tasks import STAGE1, STAGE2

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


def seed_run(
    seed: int, parts: dict[str, Part], done: Callable[[Part], dict[str, Any] | None]
) -> tuple[dict[str, Any] | None, list[str]]:
    """One seed's scores as the page reads them, from the records ``done(part)`` gives (None: not recorded for
    the part's current config), and the names of the parts not recorded; the scores are None unless every part is."""
    recs = {name: rec for name, p in parts.items() if (rec := done(p)) is not None}
    missing = [name for name in parts if name not in recs]
    if missing:
        return None, missing
    scores = {name: rec["scores"] for name, rec in recs.items()}
    fractions = [n.removeprefix("audio-").removesuffix("-pretrained") for n in parts if n.endswith("-pretrained")]
    run = {
        "seed": seed,
        "walls": {name: rec["wall_s"] for name, rec in recs.items()},
        "machines": sorted({(rec.get("threads", 0), rec.get("matmul_gflops", 0.0)) for rec in recs.values()}),
        "torch": sorted({str(rec.get("torch", "?")) for rec in recs.values()}),
        "multitask": scores["pretrain"],
        "no_curriculum": scores["pretrain-no-curriculum"],
        "stages": {n.removeprefix("pretrain-step"): s for n, s in scores.items() if n.startswith("pretrain-step")},
        "summarize": scores["ft_summarize"],
        "caption_specialist": scores["ft_caption"],
        "vqa_specialist": scores["ft_vqa"],
        "merge": {m: scores[f"merge-{m}"]["rows"] for m in MERGES},
        "audio": {
            pct: {k: scores[f"audio-{pct}-{k}"]["caption_audio"] for k in ("pretrained", "scratch")}
            for pct in fractions
        },
    }
    return run, []


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


def _stages(runs: list[dict[str, Any]], last: int) -> str:
    """The curriculum model's goal tasks at the end of each pretraining part but the last (none: one part)."""
    if not runs[0]["stages"]:
        return ""
    tasks = [t for t in TARGETS if t in runs[0]["multitask"]]
    lines = ["", "## The multitask model at the end of each pretraining part", "",
             "| step | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]  # fmt: skip
    for step in runs[0]["stages"]:
        cells = [_ms([r["stages"][step][t]["value"] for r in runs]) for t in tasks]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    cells = [_ms([r["multitask"][t]["value"] for r in runs]) for t in tasks]
    lines.append(f"| {last} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pending(pending: list[str], mismatched: list[str]) -> str:
    """What the ledger still lacks (the page shows only the seeds with every part) and what it holds for another
    config."""
    out = ""
    if pending:
        out += "\nPending, not yet in the ledger (run them with the command above):\n\n"
        out += "".join(f"- {m}\n" for m in pending)
    if mismatched:
        out += "\nRecorded for another config than the code's (not used; the command above runs them again):\n\n"
        out += "".join(f"- {m}\n" for m in mismatched)
    return out


def render(s: dict[str, Any], command: str) -> str:
    """The page (between its section markers) from ``s``: ``budget``, ``settings`` (the budget's fields), ``runs``
    (:func:`seed_run` of every complete seed), and optionally ``pending`` and ``mismatched`` (lines to list)."""
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
    longest = max(w for r in runs for w in r["walls"].values()) / 60
    where = machines_text(m for r in runs for m in r["machines"])
    versions = ", ".join(sorted({v for r in runs for v in r["torch"]}))
    binding = f" ({', '.join(BINDING_TASKS)}: {b['binding_batch']})" if b.get("binding_batch") else ""
    ends = stage_ends(b)
    staged = f" in {len(ends)} parts ending at steps {', '.join(map(str, ends))}, each resuming the one before" * (
        len(ends) > 1
    )
    return f"""Regenerate with `{command}` (parts recorded in the ledger are skipped, `--parts`/`--max-parts` run
some of them, `--render` rebuilds this page from the committed parts alone; writes this file and
`docs/figures/unival_lambda_curve.png`). Design: [unival.md](unival.md); the ledger: results/README.md.

**Budget ({s["budget"]})**: tiny preset (D=64, trunk depth 2, decoder depth 2), {NUM_BINS}
location bins, conv-stem patch encoders without per-position norms (docs/unival.md, "Encoders"), stage-1 tasks
{", ".join(STAGE1)} (then {", ".join(STAGE2)} added),
{b["num_train"]} training samples per derived task, batch {b["batch"]} per task per step{binding}, pretraining
{b["pre_steps"]} steps{staged}, fine-tuning {b["ft_steps"]} steps
(the two merged specialists at lr {SPECIALIST_LR:g}, everything else at 2e-3), audio {b["audio_steps"]} steps,
greedy decoding, metrics on
the first {b["eval_limit"]} test samples per task. Seeds {seeds}; cells are mean ± std over seeds, claims paired
differences with Student-t 95 % intervals. {where}, torch {versions}: **{walls:.1f} min per seed** (the parts'
wall times summed; the longest part {longest:.1f} min).

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
{_stages(runs, b["pre_steps"])}{_pending(s.get("pending", []), s.get("mismatched", []))}"""
