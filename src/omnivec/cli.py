"""Command line: each subcommand parses its arguments and calls one typed function; errors print one line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError

Handler = Callable[[argparse.Namespace], int]


def _tasks_arg(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def cmd_train(a: argparse.Namespace) -> int:
    from omnivec.config import PRESETS, RunConfig, load_yaml, preset
    from omnivec.train import train

    if a.config:
        cfg = load_yaml(RunConfig, a.config)
    else:
        if a.preset not in PRESETS:
            raise OmnivecError(f"unknown preset {a.preset!r}; expected one of: {', '.join(PRESETS)}")
        cfg = preset(a.preset)
    if a.tasks:
        cfg.tasks = a.tasks
    from omnivec.config import apply_override

    for assignment in a.set or []:
        cfg = apply_override(cfg, assignment)
    if a.train:
        from omnivec.cli_data import add_byo

        add_byo(cfg, a.train, a.val or "", a.modality or "")
    cfg.strict = cfg.strict or a.strict
    for key in ("max_steps", "batch_size", "lr", "seed", "checkpoint_every", "num_workers", "grad_accum"):
        if getattr(a, key) is not None:
            setattr(cfg.train, key, getattr(a, key))
    for key in ("num_train", "num_test", "train_limit", "test_limit"):
        if getattr(a, key) is not None:
            setattr(cfg, key, getattr(a, key))
    cfg.data_root = a.data_root or os.environ.get("OMNIVEC_DATA", "")
    results = train(cfg, a.out, resume=a.resume, progress=not a.quiet)
    _print_results(results)
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from omnivec.catalog import get_task
    from omnivec.run import load_run
    from omnivec.train import evaluate_tasks

    model, cfg = load_run(a.run)
    if a.data_root:
        cfg.data_root = a.data_root
    cfg.strict = a.strict
    names = a.tasks or list(model.tasks)
    if a.data:
        from omnivec.cli_data import user_eval_set

        datasets = user_eval_set(model, cfg, names, a.data)
    else:
        datasets = {n: get_task(n, cfg).build(cfg).test for n in names}
    results = evaluate_tasks(model, datasets)
    if a.json:
        print(json.dumps(results, indent=2))
    else:
        _print_results(results)
    return 0


def cmd_embed(a: argparse.Namespace) -> int:
    import numpy as np

    from omnivec.checkpoint import atomic_write
    from omnivec.embed import embed_files
    from omnivec.run import load

    model = load(a.run)
    vectors = embed_files(model, a.modality, [Path(p) for p in a.input])

    def write(p: Path) -> None:
        with open(p, "wb") as f:  # a file handle: np.save would append ".npy" to the temporary name
            np.save(f, vectors)

    atomic_write(Path(a.out), write)
    print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} vectors to {a.out}")
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    from omnivec.checkpoint import TRAIN_STATE, load_state
    from omnivec.layers.attention import count_parameters
    from omnivec.run import load_run

    model, cfg = load_run(a.run)
    info: dict[str, Any] = {
        "run": str(a.run),
        "preset": cfg.preset,
        "parameters": count_parameters(model),
        "trunk": {
            "embed_dim": cfg.model.embed_dim,
            "depth": cfg.model.depth,
            "num_heads": cfg.model.num_heads,
            "vectorizer": cfg.model.vectorizer,
            "num_meta_tokens": cfg.model.num_meta_tokens,
        },
        "encoders": {m: spec.get("name") for m, spec in cfg.model.encoders.items()},
        "tasks": {t.name: {"kind": t.kind, "modality": t.modality, "classes": t.num_classes} for t in cfg.model.tasks},
    }
    state = Path(a.run) / TRAIN_STATE
    if state.is_file():
        info["step"] = int(load_state(state)["step"])
    evalf = Path(a.run) / "eval.json"
    if evalf.is_file():
        info["eval"] = {
            k: {"metric": v["metric"], "value": v["value"]} for k, v in json.loads(evalf.read_text()).items()
        }
    print(json.dumps(info, indent=2) if a.json else _format_info(info))
    return 0


def cmd_quickstart(a: argparse.Namespace) -> int:
    from omnivec.quickstart import quickstart

    data_root = a.data_root or os.environ.get("OMNIVEC_DATA", "")
    quickstart(a.out, seed=a.seed, data_root=data_root, progress=not a.quiet, baselines=not a.no_baselines)
    print((Path(a.out) / "report.md").read_text())
    return 0


def cmd_tasks(a: argparse.Namespace) -> int:
    from omnivec.catalog import get_task, task_names

    for n in task_names():
        e = get_task(n)
        print(f"{n:22s} {e.kind:15s} {e.modality:7s} {e.group:7s} {e.source:10s} {e.description}")
    return 0


def _format_info(info: dict[str, Any]) -> str:
    lines = [f"{k}: {v}" for k, v in info.items() if not isinstance(v, dict)]
    for k, v in info.items():
        if isinstance(v, dict):
            lines.append(f"{k}:")
            lines.extend(f"  {kk}: {vv}" for kk, vv in v.items())
    return "\n".join(lines)


def _print_results(results: dict[str, Any]) -> None:
    if not results:
        return
    print(f"{'task':22s} {'modality':8s} {'metric':9s} {'chance':>7s} {'result':>7s}")
    for r in results.values():
        print(f"{r['task']:22s} {r['modality']:8s} {r['metric']:9s} {r['chance']:7.3f} {r['value']:7.3f}")
    for r in results.values():
        if r.get("skipped"):
            print(f"{r['task']}: skipped {r['skipped']} unreadable file(s) in evaluation")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="omnivec", description="Unified multimodal models (OmniVec, UnIVAL).")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="supervised (multi-task) training into a run folder")
    t.add_argument(
        "--preset", default="cpu", help="cpu (default: minutes on a laptop CPU) | tiny (seconds, tests) | small | base"
    )
    t.add_argument("--config", help="a RunConfig YAML instead of a preset")
    t.add_argument("--tasks", type=_tasks_arg, help="comma-separated task names (see `omnivec tasks`)")
    t.add_argument("--out", required=True, help="run folder to write")
    t.add_argument("--max-steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--seed", type=int)
    t.add_argument("--checkpoint-every", type=int)
    t.add_argument("--num-workers", type=int)
    t.add_argument("--grad-accum", type=int)
    t.add_argument("--num-train", type=int, help="samples per generated task")
    t.add_argument("--num-test", type=int)
    t.add_argument("--data-root", help="real datasets (default: $OMNIVEC_DATA)")
    t.add_argument("--train-limit", type=int, help="cap on training samples per real dataset (0 = all)")
    t.add_argument("--test-limit", type=int, help="cap on test samples per real dataset (0 = all)")
    t.add_argument("--train", help="your own data: a folder of class subfolders or a CSV/JSONL manifest")
    t.add_argument("--val", help="held-out data for --train (default: a seeded 10%% holdout of --train)")
    t.add_argument(
        "--modality",
        choices=["image", "video", "audio", "text", "points"],
        help="modality of --train (default: detected from the file extensions)",
    )
    t.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set model.encoders.image.stem=hmlp --set train.lr=3e-3 (repeatable)",
    )
    t.add_argument("--strict", action="store_true", help="stop at the first unreadable file, naming it")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("evaluate", help="score a run on its tasks' test splits")
    e.add_argument("run")
    e.add_argument("--tasks", type=_tasks_arg)
    e.add_argument("--data-root")
    e.add_argument("--data", help="score on this folder/manifest instead of the tasks' test splits")
    e.add_argument("--strict", action="store_true", help="stop at the first unreadable file, naming it")
    e.add_argument("--json", action="store_true")
    e.set_defaults(fn=cmd_evaluate)

    m = sub.add_parser("embed", help="export (N, D) embeddings of input files as .npy")
    m.add_argument("run")
    m.add_argument("--modality", required=True, choices=["image", "video", "audio", "text", "points"])
    m.add_argument("--input", nargs="+", required=True)
    m.add_argument("--out", required=True)
    m.set_defaults(fn=cmd_embed)

    i = sub.add_parser("info", help="describe a run folder")
    i.add_argument("run")
    i.add_argument("--json", action="store_true")
    i.set_defaults(fn=cmd_info)

    q = sub.add_parser("quickstart", help="train one model on six tasks in five modalities and write a report")
    q.add_argument("--out", default="runs/quickstart")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--data-root")
    q.add_argument("--quiet", action="store_true")
    q.add_argument("--no-baselines", action="store_true", help="skip the reference specialists (faster)")
    q.set_defaults(fn=cmd_quickstart)

    k = sub.add_parser("tasks", help="list the task catalogue")
    k.set_defaults(fn=cmd_tasks)
    for extend in EXTENSIONS:
        extend(sub)
    return p


# Later subcommand groups (data, pretrain, finetune, merge, generate) add themselves here.
EXTENSIONS: list[Callable[[Any], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except OmnivecError as e:
        print(f"omnivec {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# Subcommand groups of the later layers register themselves here.
from omnivec import cli_data, cli_recipe, cli_unival  # noqa: E402

EXTENSIONS.extend([cli_data.register, cli_recipe.register, cli_unival.register])
from omnivec import cli_export  # noqa: E402

EXTENSIONS.append(cli_export.register)

if __name__ == "__main__":
    raise SystemExit(main())
