"""``omnivec reproduce-unival``: the UnIVAL claims over seeds, built in parts, regenerating docs/results_unival.md.

Per seed (:mod:`omnivec.experiments.unival_plan` says what each part trains):

1. multitask pretraining with the curriculum (first half image-text, then + video-text; no audio), and the same
   steps without it (every task from step 0): each task's metric and the share of repeated phrases;
2. summarisation fine-tuned from the curriculum model;
3. two specialists fine-tuned from it (image captioning, VQA), merged by four methods over a grid: linear
   interpolation (α), the uniform soup (α = 0.5 average), task arithmetic and TIES (λ scaling the task vectors
   from the pretrained model); whether some α keeps >= 95 % of both specialists, in every seed;
4. the unseen modality: spoken-digit captioning from the image+video model vs from random weights, with 5 %,
   20 % and 100 % of the audio captions (``label_fraction``), where transfer can show.

Every part is its own folder under ``WORK/seed-<k>/`` and leaves a record when it ends, in ``WORK/seed-<k>/parts/``
and, with a ledger, in ``<ledger>/<budget>/seed-<k>/<part>.json`` (:class:`omnivec.experiments.parts.Parts`,
results/README.md): a recorded part is skipped, a part that needs the folder of one an earlier session recorded
re-creates it and checks its losses, ``parts``/``max_parts`` run some of the parts (a session's share of a page
that takes hours), and ``render`` writes the page from the ledger alone (:mod:`omnivec.experiments.unival_page`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError
from omnivec.experiments.ledger import Ledger
from omnivec.experiments.parts import Part, Parts
from omnivec.experiments.reproduce import write_section
from omnivec.experiments.unival_page import keeps, plot_merges, render, seed_run
from omnivec.experiments.unival_plan import AUDIO_FRACTIONS, BINDING_TASKS, BUDGETS, MERGES, _cfg, plan_seed
from omnivec.training.checkpoint import atomic_write_text

SECTION = "reproduce-unival"
TAG = "reproduce-unival"


def seed_ledger(ledger: str | Path, budget: str, seed: int) -> Ledger:
    """The seed's folder of the ledger rooted at ``ledger`` (e.g. ``results/unival``): ``<budget>/seed-<k>``."""
    return Ledger(Path(ledger) / budget / f"seed-{seed}")


def _recorded(book: Ledger) -> Callable[[Part], dict[str, Any] | None]:
    """A part's record in ``book`` for its current config (None: missing or mismatched)."""
    return lambda part: book.find(part.name, part.hash)


def _check_names(patterns: list[str], plan: dict[str, Part]) -> None:
    """Every ``--parts`` pattern names some part (a misspelt one would run nothing, silently)."""
    if unknown := [p for p in patterns if not any(fnmatch(name, p) for name in plan)]:
        raise OmnivecError(f"--parts: no part named {', '.join(unknown)}; the parts of a seed: {', '.join(plan)}")


def run_parts(
    plans: dict[int, dict[str, Part]],
    runners: dict[int, Parts],
    patterns: list[str] | None = None,
    max_parts: int = 0,
    log: Any = print,
) -> int:
    """Run, seed after seed and in plan order, every part that ``patterns`` (fnmatch, e.g. ``audio-*``; None: all)
    names and no record has, at most ``max_parts`` of them (0: no limit); the folders they need are made or
    re-created first. Returns how many ran."""
    ran = 0
    for k, plan in plans.items():
        for part in plan.values():
            if patterns and not any(fnmatch(part.name, p) for p in patterns):
                continue
            new = runners[k].done(part) is None
            if new and max_parts and ran >= max_parts:
                log(f"[{TAG}] stopped after {ran} part(s) (--max-parts {max_parts}): the same command continues")
                return ran
            runners[k].run(part)  # a part recorded in the work folder only is copied to the ledger
            ran += new
    return ran


def reproduce(
    work: str | Path,
    out: str | Path = "docs/results_unival.md",
    budget: str = "small",
    data_root: str = "",
    seeds: int = 3,
    seed: int = 0,
    fractions: tuple[float, ...] = AUDIO_FRACTIONS,
    log: Any = print,
    ledger: str | Path | None = None,
    render_only: bool = False,
    parts: list[str] | None = None,
    max_parts: int = 0,
    strict: bool = False,
) -> dict[str, Any]:
    """Run (or resume) the parts of ``seeds`` seeds into ``work/seed-<k>`` -- only those ``parts`` names, at most
    ``max_parts`` -- recording each in ``ledger`` when given, then write ``out`` from the records: the seeds with
    every part recorded are on the page, the parts still missing are listed as pending. ``render_only``: run
    nothing, read the ledger alone. A page with no complete seed is not written (an error with ``render_only``),
    nor is one when parts run into a ``ledger`` (it would show only these seeds: ``render_only`` writes it);
    ``strict`` refuses any pending or mismatched part. Returns ``{"budget", "settings", "runs", "pending",
    "mismatched", "ran"}``."""
    if budget not in BUDGETS:
        raise OmnivecError(f"unknown budget {budget!r}; expected one of {', '.join(BUDGETS)}")
    if seeds < 1:
        raise OmnivecError(f"--seeds must be at least 1, got {seeds}")
    if max_parts < 0:
        raise OmnivecError(f"--max-parts must be >= 0, got {max_parts}")
    if render_only and not ledger:
        raise OmnivecError("--render reads the ledger: give --ledger (e.g. results/unival)")
    work, out = Path(work), Path(out)
    ids = list(range(seed, seed + seeds))
    plans = {k: plan_seed(work / f"seed-{k}", budget, k, data_root, fractions) for k in ids}
    if parts:
        _check_names(parts, plans[seed])
    books = {k: seed_ledger(ledger, budget, k) for k in ids} if ledger else {}
    t0, ran = time.perf_counter(), 0
    runners: dict[int, Parts] = {}
    if not render_only:
        about = {"experiment": TAG, "budget": budget}
        runners = {k: Parts(work / f"seed-{k}", log, TAG, books.get(k), about | {"seed": k}) for k in ids}
        ran = run_parts(plans, runners, parts, max_parts, log)
    runs, pending, mismatched = [], [], []
    for k in ids:
        run, missing = seed_run(k, plans[k], _recorded(books[k]) if render_only else runners[k].done)
        runs += [run] if run is not None else []
        pending += [f"seed {k}: {', '.join(missing)}"] if missing else []
        if ledger:
            mismatched += [
                f"seed {k}: {p.name} (recorded for config {rec.get('config_hash')}, now {p.hash})"
                for p in plans[k].values()
                if (rec := books[k].read(p.name)) is not None and rec.get("config_hash") != p.hash
            ]
    for line in pending:
        log(f"[{TAG}] pending: {line}")
    summary = {"budget": budget, "settings": BUDGETS[budget], "runs": runs, "pending": pending, "ran": ran}
    summary |= {"mismatched": mismatched, "wall_s": time.perf_counter() - t0}
    if (strict and (pending or mismatched)) or (render_only and not runs):
        raise OmnivecError(
            f"the ledger {ledger} lacks parts of the page"
            + "".join(f"\n  pending: {m}" for m in pending)
            + "".join(f"\n  mismatched: {m}" for m in mismatched)
        )
    if not render_only:
        work.mkdir(parents=True, exist_ok=True)
        (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if not runs:
        log(f"[{TAG}] {out} not written: no seed has all its parts yet")
        return summary
    if ledger and not render_only:  # the ledger's page shows every committed seed: --render builds it
        log(f"[{TAG}] {out} not written: parts go to the ledger; `--render` builds the page from all its seeds")
        return summary
    fig_dir = out.parent / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    plot_merges(runs, fig_dir / "unival_lambda_curve.png")
    where = f"--ledger {ledger}" if ledger else f"--work {work}"
    audio = "" if fractions == AUDIO_FRACTIONS else f" --audio-fractions {','.join(f'{x:g}' for x in fractions)}"
    cmd = f"omnivec reproduce-unival --budget {budget} --seeds {seeds} --seed {seed} {where}{audio}"
    if f"<!-- {SECTION}:start -->" not in (out.read_text() if out.is_file() else ""):
        atomic_write_text(out, "# UnIVAL recipe: results\n\n")  # a page of an older layout starts afresh
    write_section(out, render(summary, cmd), SECTION)  # a hand-written reading after the section stays
    return summary


__all__ = [
    "AUDIO_FRACTIONS",
    "BINDING_TASKS",
    "BUDGETS",
    "MERGES",
    "_cfg",
    "keeps",
    "render",
    "reproduce",
    "run_parts",
    "seed_ledger",
]
