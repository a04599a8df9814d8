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


def modality_names() -> list[str]:
    """Every modality a registered encoder reads (CLI choices come from the registry)."""
    from omnivec.encoders import ENCODERS

    return sorted({str(ENCODERS.get(n).modality) for n in ENCODERS.names()})


def add_device(p: argparse.ArgumentParser) -> None:
    from omnivec.device import DEVICE_HELP

    p.add_argument("--device", default="auto", help=DEVICE_HELP)


def _tasks_arg(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def cmd_train(a: argparse.Namespace) -> int:
    from omnivec.config import RunConfig, load_config_file, preset
    from omnivec.train import train

    cfg = load_config_file(a.config, RunConfig, preset, a.preset) if a.config else preset(a.preset)
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
    from omnivec.evaluate import evaluate_run

    results = evaluate_run(a.run, a.tasks, a.device, a.data, a.data_root, a.strict, a.beam, a.limit)
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

    model = load(a.run, a.device)
    vectors = embed_files(model, a.modality, [Path(p) for p in a.input])

    def write(p: Path) -> None:
        with open(p, "wb") as f:  # a file handle: np.save would append ".npy" to the temporary name
            np.save(f, vectors)

    atomic_write(Path(a.out), write)
    print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} vectors to {a.out}")
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    from omnivec.predict import predict_files

    records = predict_files(a.run, a.task, a.input, a.device, a.text)
    _write_jsonl(records, a.out)
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    from omnivec.info import run_info

    info = run_info(a.run)
    print(json.dumps(info, indent=2) if a.json else _format_info(info))
    return 0


def cmd_config_show(a: argparse.Namespace) -> int:
    from omnivec.config import preset
    from omnivec.config_doc import commented_yaml

    if a.family == "unival":
        from omnivec.unival.model import unival_preset

        print(commented_yaml(unival_preset(a.preset)), end="")
    else:
        print(commented_yaml(preset(a.preset)), end="")
    return 0


def _write_jsonl(records: list[dict[str, Any]], out: str | None) -> None:
    from omnivec.checkpoint import atomic_write_text

    lines = "".join(json.dumps(r) + "\n" for r in records)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(out), lines)
        print(f"wrote {len(records)} line(s) to {out}")
    else:
        sys.stdout.write(lines)


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
        chance = f"{r['chance']:7.3f}" if "chance" in r else f"{'-':>7s}"
        print(f"{r['task']:22s} {r['modality'] or 'text':8s} {r['metric']:9s} {chance} {r['value']:7.3f}")
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
    t.add_argument(
        "--config", help="a config YAML: its `preset:` (else --preset) with only the fields it names overridden"
    )
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
        choices=modality_names(),
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

    e = sub.add_parser("evaluate", help="score a run (either family) on its tasks' test splits")
    e.add_argument("run")
    e.add_argument("--tasks", type=_tasks_arg)
    e.add_argument("--data-root")
    e.add_argument("--data", help="score on this folder/manifest instead of the tasks' test splits (OmniVec)")
    e.add_argument("--strict", action="store_true", help="stop at the first unreadable file, naming it")
    e.add_argument("--beam", type=int, default=1, help="beam size of the generation (UnIVAL)")
    e.add_argument("--limit", type=int, default=0, help="score at most this many test samples per task (UnIVAL)")
    e.add_argument("--json", action="store_true")
    add_device(e)
    e.set_defaults(fn=cmd_evaluate)

    m = sub.add_parser("embed", help="export (N, D) embeddings of input files as .npy (a run of either family)")
    m.add_argument("run")
    m.add_argument("--modality", required=True, choices=modality_names())
    m.add_argument("--input", nargs="+", required=True)
    m.add_argument("--out", required=True)
    add_device(m)
    m.set_defaults(fn=cmd_embed)

    r = sub.add_parser(
        "predict", help="a task's predictions for input files, as JSONL (class names, masks, or generated text)"
    )
    r.add_argument("run")
    r.add_argument("--task", required=True, help="a task of the run (UnIVAL: also caption, vqa, grounding, ...)")
    r.add_argument("--input", nargs="+", required=True, help="input files")
    r.add_argument("--text", help="UnIVAL: the question (vqa), phrase (grounding) or caption (matching)")
    r.add_argument("--out", help="JSONL output (default stdout)")
    add_device(r)
    r.set_defaults(fn=cmd_predict)

    c = sub.add_parser("config", help="configs: `config show` prints a complete, commented config to start from")
    cs = c.add_subparsers(dest="config_command", required=True)
    show = cs.add_parser("show", help="a preset as commented YAML (every field documented)")
    show.add_argument("--preset", default="cpu", help="cpu | tiny | small | base")
    show.add_argument("--family", default="omnivec", choices=["omnivec", "unival"])
    show.set_defaults(fn=cmd_config_show, command="config show")

    i = sub.add_parser("info", help="describe a run folder (either family)")
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
