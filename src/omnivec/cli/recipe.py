"""``omnivec pretrain | finetune | reproduce``: the OmniVec recipe and its experiment tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from omnivec.cli.common import (
    add_init,
    add_training_flags,
    build_run_config,
    modality_names,
    print_best,
    refuse_changed_flags,
)
from omnivec.config import RunConfig, comma_list
from omnivec.config.validate import (
    below_one_float,
    fraction_float,
    non_negative_float,
    non_negative_int,
    positive_int,
)
from omnivec.errors import OmnivecError


def _ratios(value: str) -> dict[str, float]:
    out = {}
    for part in comma_list(value):
        if "=" not in part:
            raise argparse.ArgumentTypeError(f"expected modality=ratio, got {part!r}")
        k, v = part.split("=", 1)
        out[k.strip()] = float(v)
    return out


def _common(p: argparse.ArgumentParser) -> None:
    add_training_flags(p)
    p.add_argument("--grad-accum", type=positive_int, help="micro-batches per optimizer step")
    p.add_argument("--ema", dest="ema_decay", type=below_one_float, help="keep an EMA of the weights with this decay")
    p.add_argument("--log-every", type=positive_int, help="write a metrics line every N steps")
    p.add_argument(
        "--label-fraction",
        type=fraction_float,
        help="share of each task's training labels to use (seeded subset; 1 = all)",
    )
    p.add_argument(
        "--layer-decay",
        type=fraction_float,
        help="layer-wise lr decay: trunk block i of L learns at lr * d^(L - i), encoders at lr * d^(L + 1)",
    )


RECIPE_SETTINGS: tuple[str, ...] = (
    *("preset", "config", "batch_size", "lr", "seed", "checkpoint_every", "grad_accum", "ema_decay", "log_every"),
    *("label_fraction", "layer_decay", "num_train", "num_test", "tasks", "train_limit", "test_limit", "set"),
    *("strict", "data_root", "modality", "label_smoothing"),
)
"""Settings a resumed pretrain/finetune takes from its run folder; giving them with --resume is refused."""


PRETRAIN_SCHEDULE = (("max_steps", "train.max_steps", 12000), ("batch_size", "train.batch_size", 64))
"""``omnivec pretrain``'s schedule with the cpu preset when neither a flag, ``--set`` nor ``--config`` names it:
12,000 steps of 64 samples (96 passes over 8,000 images; 17-18 minutes on *one* core with the sparse masked stem).
The preset's 1,500 x 32 (6 passes) made features that fine-tuned *worse* than random weights; 48 passes made the
first start that beats training from scratch (+2.6 points), 96 passes +5.3 over 3 splits x 3 seeds
(docs/recipe.md, "The user's path, measured")."""


def names_setting(a: argparse.Namespace, flag: str, key: str) -> bool:
    """Whether the command line sets config field ``key``: its flag, a ``--set key=...``, or a ``--config`` file
    naming it."""
    if getattr(a, flag, None) is not None:
        return True
    if any(s.partition("=")[0].strip() == key for s in a.set or []):
        return True
    if getattr(a, "config", None):
        from omnivec.config import read_yaml

        node: object = read_yaml(a.config)
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True
    return False


def cmd_pretrain(a: argparse.Namespace) -> int:
    from omnivec.api.pretrain import PretrainConfig, pretrain
    from omnivec.api.user_data import add_pretraining_data

    if a.resume:
        refuse_changed_flags(
            a,
            (*RECIPE_SETTINGS, "mask_ratio", "no_mixing", "init", "train", "objective", "num_masks", "stem_context"),
            ("steps",),
            defaults={"objective": "pixels", "num_masks": 1, "stem_context": "visible"},
        )
    elif not a.tasks and not a.train:
        raise OmnivecError("pretrain: pass --tasks NAME[,NAME...] and/or --train DIR")
    cfg = build_run_config(a)
    if not a.resume and cfg.preset == "cpu":  # a schedule long enough to pay, unless one is given
        for flag, key, value in PRETRAIN_SCHEDULE:
            if not names_setting(a, flag, key):
                *_, field = key.split(".")
                setattr(cfg.train, field, value)
    if a.tasks:
        cfg.tasks = a.tasks
    for folder in a.train:  # each folder one stream, its modality detected (or --modality)
        add_pretraining_data(cfg, folder, a.modality or "")
    if a.no_mixing:  # else the preset's (mixed), or what --config / --set say
        cfg.train.task_schedule = "round_robin"
    pcfg = PretrainConfig(
        mask_ratio=dict(a.mask_ratio or {}),
        decoder_dim=a.decoder_dim,
        decoder_depth=a.decoder_depth,
        objective=a.objective,
        num_masks=a.num_masks,
        stem_context=a.stem_context,
    )
    s = pretrain(
        cfg, a.out, pcfg, resume=a.resume, progress=not a.quiet, device=a.device, init=a.init, probe=not a.no_probe
    )
    if s:
        last = s["last"]
        print(f"pretrained {s['steps']} steps into {a.out}; last loss {last.get('loss', float('nan')):.4f}")
        if s.get("skipped"):
            print(f"skipped {s['skipped']} unreadable file(s), listed in {a.out}/skipped.jsonl")
        if "probe" in s:
            from omnivec.api.probe import format_report

            print(format_report(s["probe"]))
    return 0


def cmd_finetune(a: argparse.Namespace) -> int:
    from omnivec.api.finetune import finetune, parse_groups

    if a.resume:  # the saved schedule decides everything, the step budget included
        settings = (*RECIPE_SETTINGS, "max_steps", "groups", "no_mixing", "close", "train", "val")
        refuse_changed_flags(a, settings, (), {"close": 0.0})

    tasks = a.tasks
    if not tasks and not a.train and not a.resume:
        raise OmnivecError("finetune: pass --tasks NAME[,NAME...] and/or --train DIR")
    if a.run != "scratch" and any(s.strip().startswith("model.") for s in a.set or []):
        raise OmnivecError(f"--set model.*: finetune {a.run} takes its model from {a.run}; use `finetune scratch`")
    cfg = build_run_config(a)
    if a.run != "scratch" and not a.resume and not names_setting(a, "layer_decay", "train.layer_decay"):
        from omnivec.api.finetune import PRETRAINED_LAYER_DECAY

        cfg.train.layer_decay = PRETRAINED_LAYER_DECAY  # pretrained weights keep what they learnt
    holder = RunConfig(tasks=list(tasks))  # collects the --train task, if any
    if a.train:  # a dataset of the user's own, e.g. one the pretrained trunk never saw
        from omnivec.api.user_data import add_byo

        tasks = [*tasks, add_byo(holder, a.train, a.val or "", a.modality or "")]
    groups = parse_groups(a.groups, tasks, holder) if tasks else None
    start = None if a.run == "scratch" else a.run
    results = finetune(
        start,
        tasks,
        a.out,
        cfg.train,
        groups,
        a.rounds,
        mix=not a.no_mixing,
        run_cfg=cfg,  # from a start folder: its schedule and data settings (the model is the start's)
        resume=a.resume,
        progress=not a.quiet,
        byo=holder.byo,
        device=a.device,
        close=a.close,
    )
    for name, r in results.items():
        print(f"{name:20s} {r['metric']:10s} {r['value']:.4f}  (chance {r['chance']:.3f})")
    print_best(a.out)
    return 0


def cmd_reproduce(a: argparse.Namespace) -> int:
    if a.name == "baselines":
        from omnivec.data.real_tasks import real_suite
        from omnivec.experiments.benchmark import BenchBudget, reproduce_baselines, table

        tasks = a.tasks or real_suite(a.data_root) or []
        if not tasks:
            from omnivec.data.task_catalog import GENERATED_SUITE

            tasks = list(GENERATED_SUITE)
        budget = BenchBudget(steps=a.steps or 300, batch_size=a.batch_size, seconds=a.seconds)
        out = a.out if a.out != "runs/omnivec-ablations" else "runs/baselines"
        rows = reproduce_baselines(
            out, tasks, budget, a.data_root, a.seed, a.train_limit, a.test_limit, progress=not a.quiet
        )
        print(table(rows))
        print(f"wrote {out}/baselines.md")
        return 0
    if a.name == "full-budget":
        from omnivec.experiments.benchmark import table
        from omnivec.experiments.full_budget import FULL_BUDGET, PUBLISHED, TARGETS, reproduce_full_budget

        out = a.out if a.out != "runs/omnivec-ablations" else "runs/full-budget"
        if a.seconds > 0:
            raise OmnivecError("full-budget: its budgets are steps (--steps N for every dataset), not --seconds")
        steps = {t: a.steps for t in a.tasks or FULL_BUDGET} if a.steps else None
        ledger = Path(a.ledger) / "full-budget" if a.ledger else None
        rows = reproduce_full_budget(
            out, a.tasks or None, a.data_root, a.seed, a.results, not a.quiet, steps, ledger, a.render
        )
        print(table(rows, TARGETS, PUBLISHED))
        print(f"wrote {a.results}" + ("" if a.render else f" and {out}/full_budget.md"))
        return 0
    if a.name == "omnivec-label-scarce":
        from omnivec.experiments.reproduce import reproduce_scarce

        out = a.out if a.out != "runs/omnivec-ablations" else "runs/label-scarce"
        labels = [float(x) for x in a.labels]
        r = reproduce_scarce(
            out,
            a.budget,
            a.suite,
            a.seed,
            a.seeds,
            labels,
            a.rows or None,
            a.results,
            a.data_root,
            ledger=a.ledger,
            render=a.render,
            strict=a.strict,
        )
        for c in r["claims"]:
            print(f"{c['labels']:>4s} % labels  {c['claim']:60s} {c['p']}  {c['p'].verdict}")
        print(f"wrote {a.results}")
        return 0
    from omnivec.experiments.reproduce import reproduce

    if a.budget not in ("tiny", "small", "medium"):
        raise OmnivecError(f"omnivec-ablations budgets are tiny, small and medium, got {a.budget!r}")
    s = reproduce(a.name, a.out, a.budget, a.suite, a.seed, a.results, a.data_root, progress=not a.quiet, seeds=a.seeds)
    runs = s.get("runs", [s])
    print(f"wrote {a.results} ({runs[0]['suite']} suite, {sum(r['total_wall_s'] for r in runs) / 60:.1f} min)")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("pretrain", help="masked pretraining of an OmniVec trunk on unlabelled data (MAE, data2vec)")
    p.add_argument("--tasks", type=comma_list, default=[], help="tasks whose training splits to pretrain on")
    p.add_argument(
        "--train",
        action="append",
        default=[],
        metavar="DIR",
        help="your own files to pretrain on, labels unused: a folder of files of one modality (flat, or in class "
        "subfolders) or a manifest; repeat for several folders (each its own stream, e.g. images and audio)",
    )
    p.add_argument(
        "--modality",
        choices=modality_names(),
        help="modality of every --train folder (default: detected from each folder's file extensions)",
    )
    p.add_argument("--mask-ratio", type=_ratios, help="per-modality ratios, e.g. image=0.75,audio=0.8")
    p.add_argument(
        "--decoder-dim", type=non_negative_int, default=0, help="shared decoder width (0: half the trunk width)"
    )
    p.add_argument("--decoder-depth", type=positive_int, default=1)
    p.add_argument("--no-mixing", action="store_true", help="one modality per step instead of all of them")
    p.add_argument(
        "--objective",
        choices=["pixels", "latent"],
        default="pixels",
        help="pixels: reconstruct the input (MAE); latent: predict an EMA teacher's features (data2vec 2.0)",
    )
    p.add_argument("--num-masks", type=positive_int, default=1, help="masks per sample per step (multi-mask)")
    p.add_argument(
        "--stem-context",
        choices=["visible", "own"],
        default="visible",
        help="cnn stems (image, video): a kept token reads its kept neighbours (visible, the default), or its own "
        "patch only (own: ~20 %% less per step, and a stem that never saw a neighbour; docs/recipe.md)",
    )
    p.add_argument(
        "--no-probe", action="store_true", help="skip the closing linear-probe/k-NN check against random weights"
    )
    add_init(p)
    _common(p)
    p.set_defaults(fn=cmd_pretrain)

    p = sub.add_parser("finetune", help="grouped sequential multitask fine-tuning of an OmniVec run (or from scratch)")
    p.add_argument(
        "run",
        help="pretrained run folder (its model; --preset then sets only the schedule), or 'scratch' (the preset's "
        "model)",
    )
    p.add_argument("--tasks", type=comma_list, default=[])
    p.add_argument("--groups", default="", help="'a,b;c' = groups in order; default: simple tasks, then dense")
    p.add_argument("--rounds", type=positive_int, default=2, help="passes over the group sequence")
    p.add_argument("--no-mixing", action="store_true", help="one task per step within a group")
    p.add_argument(
        "--close",
        type=below_one_float,
        default=0.0,
        help="share of the steps in a closing joint phase over all tasks after the group sequence (0: none)",
    )
    p.add_argument("--train", help="your own data as one more task: a folder of class subfolders or a manifest")
    p.add_argument("--val", help="held-out data for --train (default: a seeded 10%% holdout of --train)")
    p.add_argument(
        "--modality", choices=modality_names(), help="modality of --train (default: detected from the file extensions)"
    )
    _common(p)
    p.set_defaults(fn=cmd_finetune)

    p = sub.add_parser(
        "reproduce",
        help="regenerate an experiment table (omnivec-ablations | omnivec-label-scarce | baselines | full-budget)",
    )
    p.add_argument("name", choices=["omnivec-ablations", "omnivec-label-scarce", "baselines", "full-budget"])
    p.add_argument("--tasks", type=comma_list, default=[], help="baselines/full-budget: tasks (default: the suite)")
    p.add_argument(
        "--steps", type=positive_int, help="baselines: steps per task (default 300); full-budget: for every dataset"
    )
    p.add_argument("--batch-size", type=positive_int, default=32, help="baselines: samples per task per step")
    p.add_argument(
        "--seconds",
        type=non_negative_float,
        default=0.0,
        help="baselines: training seconds per task instead",
    )
    p.add_argument(
        "--train-limit", type=non_negative_int, default=3000, help="baselines: training samples per task (0 = all)"
    )
    p.add_argument(
        "--test-limit", type=non_negative_int, default=1000, help="baselines: test samples per task (0 = all)"
    )
    p.add_argument(
        "--budget",
        default="small",
        choices=["tiny", "small", "medium", "full"],
        help="named budget (full: omnivec-label-scarce only, a GPU's worth)",
    )
    p.add_argument(
        "--labels",
        type=comma_list,
        default=["1", "10", "100"],
        help="omnivec-label-scarce: percentages of each task's labels",
    )
    p.add_argument(
        "--rows", type=comma_list, default=[], help="omnivec-label-scarce: rows to run (default a-f), e.g. b,c"
    )
    p.add_argument(
        "--ledger",
        default="results",
        help="omnivec-label-scarce, full-budget: folder of committed part records; recorded parts are skipped "
        "(results/README.md; '' keeps them in --out only)",
    )
    p.add_argument(
        "--render",
        action="store_true",
        help="omnivec-label-scarce, full-budget: train nothing, write the section from the ledger (missing parts "
        "are listed)",
    )
    p.add_argument("--strict", action="store_true", help="with --render: refuse when a part is missing or mismatched")
    p.add_argument("--suite", default="auto", help="auto, real, generated or a comma list of tasks")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=3,
        help="omnivec-ablations: seeds from --seed (mean ± std, paired 95%% CIs)",
    )
    p.add_argument("--out", default="runs/omnivec-ablations")
    p.add_argument("--results", default="docs/results.md", help="markdown file to (re)write")
    p.add_argument("--data-root", default="")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=cmd_reproduce)
