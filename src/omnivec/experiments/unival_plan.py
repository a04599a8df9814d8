"""The parts of one seed of ``omnivec reproduce-unival``: what each trains, what defines it, what it starts from.

Each part is a :class:`~omnivec.experiments.parts.Part` (its folder ``WORK/seed-<k>/<name>/``, its record
``<ledger>/<budget>/seed-<k>/<name>.json``, results/README.md):

- ``pretrain`` (with the curriculum) and ``pretrain-no-curriculum``: multitask pretraining on every image and video
  task. A budget with ``pre_stage`` steps trains each in stages of that many steps -- ``pretrain-step1000``, then
  ``pretrain`` resuming its checkpoint -- under the full run's schedule, so the stages replay the one long run
  bit for bit and no part outlasts a session;
- ``ft_summarize``, ``ft_caption``, ``ft_vqa``: fine-tuned from ``pretrain`` (the last two at
  :data:`SPECIALIST_LR`, to be merged);
- ``merge-<method>``: the two specialists merged over :data:`MERGES`'s grid, each merged model scored;
- ``audio-<pct>-pretrained`` / ``audio-<pct>-scratch``: spoken-digit captioning with ``pct`` % of the captions,
  from ``pretrain`` or from random weights.

A part's config holds what defines it (the budget's fields it uses, seed, steps, task, lr, the start's
``name@hash``), so a changed pretraining run changes every part built on it; :data:`PROTOCOL` covers code changes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from omnivec.experiments.parts import Part
from omnivec.families.unival.config import UnivalRunConfig, unival_preset
from omnivec.families.unival.derived_tasks import STAGE1, STAGE2
from omnivec.families.unival.merging import merge_grid
from omnivec.families.unival.train import finetune, pretrain, resume_run

BUDGETS: dict[str, dict[str, int]] = {
    # steps are optimizer steps; batch = samples per task per step; pre_stage = pretraining steps per part (0: one)
    "tiny": dict(
        num_train=64, num_test=16, pre_steps=6, pre_stage=3, ft_steps=4, audio_steps=4, batch=8, eval_limit=16
    ),
    "small": dict(num_train=500, num_test=50, pre_steps=60, ft_steps=30, audio_steps=60, batch=8, eval_limit=50),
    # every image/video task leaves chance; wall time per seed in docs/results_unival.md (about 30 min alone on 2 cores)
    "medium": dict(
        num_train=2000, num_test=100, pre_steps=1000, ft_steps=300, audio_steps=300, batch=8, eval_limit=100
    ),
    # twice the steps and 4x the samples for the tasks that ask which digit is where (BINDING_TASKS): in the
    # 8-task mix at 2000 steps, one seed, VQA 0.50 -> 0.65, grounding 0.28 -> 0.43 against batch 8 for every
    # task (docs/unival.md). 2000 steps took ~23 min alone on 2 cores and would take ~44 on one shared thread
    # (1.3 s a step): two stages of 1000 keep every part near 22 min there
    "full": dict(
        num_train=2000,
        num_test=100,
        pre_steps=2000,
        pre_stage=1000,
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
LR = 2e-3
"""The lr of pretraining and of every fine-tune but the two specialists."""
SPECIALIST_LR = 5e-4
"""The two merged specialists fine-tune at a quarter of the pretraining lr (2e-3), as UnIVAL fine-tunes below its
pretraining lr: measured on seed 0 of the medium budget, the caption specialist reached CIDEr-D 2.45 at 5e-4
(docs/results_unival.md, "Merging")."""
NUM_BINS = 32
"""Location bins (2 pixels of the 64-pixel canvas): locating the only digit reached acc@IoU>=0.5 0.74 in 500 steps
against 0.33 with 64 bins (and 0.45 with 16, whose rounding alone costs IoU; docs/unival.md)."""
PROTOCOL = 1
"""Part of every part's config: bump it when a code change alters what the parts compute without changing their
configs, so every committed part reads as mismatched and runs again."""
TASK_VECTOR_METHODS = ("task-arithmetic", "ties")
"""Merges that scale task vectors from the pretrained model, so they read its folder too."""


def _cfg(b: dict[str, int], steps: int, data_root: str, seed: int, fraction: float = 1.0) -> UnivalRunConfig:
    cfg = unival_preset("tiny", num_bins=NUM_BINS)
    cfg.num_train, cfg.num_test, cfg.data_root = b["num_train"], b["num_test"], data_root
    cfg.train.max_steps, cfg.train.batch_size = steps, b["batch"]
    cfg.train.warmup_steps = max(1, steps // 10)
    cfg.train.log_every = max(1, steps // 20)
    cfg.train.lr = LR
    cfg.train.seed = seed
    cfg.train.label_fraction = fraction
    if b.get("binding_batch"):
        cfg.task_batch = {t: b["binding_batch"] for t in BINDING_TASKS}
    return cfg


def _task_scores(results: dict[str, Any]) -> dict[str, Any]:
    keep = ("task", "modality", "metric", "value", "repeats", "cider_d", "bleu4", "rougeL", "rouge1", "rouge2")
    return {t: {k: r[k] for k in keep if k in r} | {"examples": r.get("examples", [])[:1]} for t, r in results.items()}


def stage_ends(b: dict[str, int]) -> list[int]:
    """The last step of each pretraining part: ``pre_stage``, 2 ``pre_stage``, ..., ``pre_steps``."""
    steps = b["pre_steps"]
    size = b.get("pre_stage") or steps
    return [*range(size, steps, size), steps]


def plan_seed(work: Path, budget: str, seed: int, data_root: str, fractions: tuple[float, ...]) -> dict[str, Part]:
    """Every part of one seed by name, in the order they run (a part after the parts it needs), training into
    ``work`` when run. Building the plan runs nothing and reads no data."""
    b = BUDGETS[budget]
    el = b["eval_limit"]
    data = {k: b.get(k) for k in ("num_train", "num_test", "batch", "binding_batch", "eval_limit")}
    base: dict[str, Any] = {"protocol": PROTOCOL, "seed": seed, "preset": "tiny", "num_bins": NUM_BINS, **data}
    parts: dict[str, Part] = {}

    def add(part: Part) -> Part:
        parts[part.name] = part
        return part

    def pretrain_stage(curriculum: bool, end: int, prev: Part | None) -> Any:
        steps = b["pre_steps"]
        stop = 0 if end == steps else end

        def fn(folder: Path) -> dict[str, Any]:
            if prev is not None:  # the previous stage's folder, continued from its checkpoint
                shutil.copytree(work / prev.name, folder)
                return _task_scores(resume_run(folder, progress=False, eval_limit=el, stop_at=stop))
            cfg = _cfg(b, steps, data_root, seed)
            cfg.stage1_steps = steps // 2 if curriculum else 0
            return _task_scores(pretrain(cfg, folder, [*STAGE1, *STAGE2], False, el, stop_at=stop))

        return fn

    def pretrain_arm(name: str, curriculum: bool) -> Part:
        prev: Part | None = None
        for end in stage_ends(b):
            config = {**base, "tasks": [*STAGE1, *STAGE2], "curriculum": curriculum, "lr": LR}
            config |= {"steps": b["pre_steps"], "stop_at": end} | ({"start": prev.ref()} if prev else {})
            stage = f"{name}-step{end}" if end < b["pre_steps"] else name
            prev = add(Part(stage, pretrain_stage(curriculum, end, prev), config, (prev,) if prev else ()))
        assert prev is not None
        return prev

    def ft(name: str, start: Part | None, task: str, steps: int, fraction: float = 1.0, lr: float = LR) -> Part:
        def fn(folder: Path) -> dict[str, Any]:
            cfg = _cfg(b, steps, data_root, seed, fraction)
            cfg.train.lr = lr
            parent = work / start.name if start else None
            return _task_scores(finetune(parent, [task], folder, cfg, progress=False, eval_limit=el))

        config = {**base, "start": start.ref() if start else "scratch", "task": task, "steps": steps}
        config |= {"fraction": fraction, "lr": lr}
        return add(Part(name, fn, config, (start,) if start else ()))

    def merge(method: str, cap: Part, vqa: Part, pre: Part) -> Part:
        uses_pre = method in TASK_VECTOR_METHODS

        def fn(folder: Path) -> dict[str, Any]:
            table = merge_grid(
                [work / cap.name, work / vqa.name],
                folder,
                "average" if method == "soup" else method,
                MERGES[method],
                pretrained=work / pre.name if uses_pre else None,
                eval_tasks=["caption_image", "vqa_image"],
                eval_limit=el,
            )
            for r in table["rows"]:  # the merged weights are not kept: a row's scores are the result
                shutil.rmtree(r["run"], ignore_errors=True)
            return {"rows": [{k: r[k] for k in ("alpha", "caption_image", "vqa_image")} for r in table["rows"]]}

        config = {**base, "method": method, "grid": MERGES[method], "specialists": [cap.ref(), vqa.ref()]}
        config |= {"pretrained": pre.ref()} if uses_pre else {}
        return add(Part(f"merge-{method}", fn, config, (cap, vqa, pre) if uses_pre else (cap, vqa)))

    pre = pretrain_arm("pretrain", True)
    pretrain_arm("pretrain-no-curriculum", False)
    ft("ft_summarize", pre, "summarize_text", b["ft_steps"])
    cap = ft("ft_caption", pre, "caption_image", b["ft_steps"], lr=SPECIALIST_LR)
    vqa = ft("ft_vqa", pre, "vqa_image", b["ft_steps"], lr=SPECIALIST_LR)
    for method in MERGES:
        merge(method, cap, vqa, pre)
    for fr in fractions:
        ft(f"audio-{fr:g}-pretrained", pre, "caption_audio", b["audio_steps"], fr / 100)
        ft(f"audio-{fr:g}-scratch", None, "caption_audio", b["audio_steps"], fr / 100)
    return parts


__all__ = [
    "AUDIO_FRACTIONS",
    "BINDING_TASKS",
    "BUDGETS",
    "LR",
    "MERGES",
    "NUM_BINS",
    "PROTOCOL",
    "SPECIALIST_LR",
    "plan_seed",
    "stage_ends",
]
