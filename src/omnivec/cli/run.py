"""``omnivec train | evaluate | embed | predict | info | tasks | config show | quickstart``: the commands that
train a run folder or use one (of either family)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from omnivec.cli.common import (
    add_decoding,
    add_device,
    add_init,
    add_run_and_inputs,
    add_training_flags,
    build_run_config,
    decoding_of,
    family_names,
    format_info,
    modality_names,
    print_best,
    print_results,
    refuse_changed_flags,
    write_jsonl,
)
from omnivec.config import comma_list
from omnivec.config.validate import non_negative_int, positive_int
from omnivec.errors import OmnivecError

TRAIN_FLAGS: tuple[str, ...] = (
    *("max_steps", "batch_size", "lr", "seed", "checkpoint_every", "keep_checkpoints", "num_workers"),
    "grad_accum",
)
RUN_FLAGS = ("num_train", "num_test", "train_limit", "test_limit")


def cmd_train(a: argparse.Namespace) -> int:
    from omnivec.api.train import train

    if a.resume:
        fixed: tuple[str, ...] = ("preset", "config", "tasks", "set", "train", "val", "modality", "strict")
        fixed += ("data_root", "init", "label_smoothing")
        refuse_changed_flags(a, fixed + tuple(k for k in TRAIN_FLAGS + RUN_FLAGS if k != "max_steps"))
    cfg = build_run_config(a)
    if a.tasks:
        cfg.tasks = a.tasks
    if a.train:
        from omnivec.api.user_data import add_byo

        add_byo(cfg, a.train, a.val or "", a.modality or "")
    results = train(cfg, a.out, resume=a.resume, progress=not a.quiet, device=a.device, init=a.init)
    print_results(results)
    print_best(a.out)
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from omnivec.api.evaluate import evaluate_run

    results = evaluate_run(a.run, a.tasks, a.device, a.data, a.data_root, a.strict, decoding_of(a), a.limit)
    if a.json:
        print(json.dumps(results, indent=2))
    else:
        print_results(results)
    return 0


def cmd_embed(a: argparse.Namespace) -> int:
    from omnivec.api.embed import embed_inputs
    from omnivec.api.load import load
    from omnivec.training.outputs import check_output_file

    check_output_file(Path(a.out), [Path(a.run), *map(Path, a.input)], a.overwrite)
    if Path(a.out).suffix != ".npz":  # refused before the model loads (Embeddings.save says the same)
        raise OmnivecError(f"{a.out}: vectors are written as one .npz (vectors, ids, paths); name it *.npz")
    model = load(a.run, a.device)
    emb = embed_inputs(model, a.modality, a.input, a.task)
    emb.save(a.out)
    n, d = emb.vectors.shape
    print(f"wrote {n} x {d} vectors ({emb.modality}, space {emb.space}) with their ids and paths to {a.out}")
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    from omnivec.api.predict import predict_files
    from omnivec.training.outputs import check_output_file

    if a.out:
        check_output_file(Path(a.out), [Path(a.run), *map(Path, a.input)])
    records = predict_files(a.run, a.task, a.input, a.device, a.text)
    write_jsonl(records, a.out)
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    from omnivec.api.info import run_info

    info = run_info(a.run)
    print(json.dumps(info, indent=2) if a.json else format_info(info))
    return 0


def cmd_config_show(a: argparse.Namespace) -> int:
    from omnivec.config.doc import commented_yaml
    from omnivec.families.registry import family

    print(commented_yaml(family(a.family).preset(a.preset)), end="")
    return 0


def cmd_quickstart(a: argparse.Namespace) -> int:
    from omnivec.experiments.quickstart import quickstart

    data_root = a.data_root or os.environ.get("OMNIVEC_DATA", "")
    quickstart(a.out, seed=a.seed, data_root=data_root, progress=not a.quiet, baselines=not a.no_baselines)
    print((Path(a.out) / "report.md").read_text())
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from omnivec.api.report import report

    page = report(a.run, a.out, a.limit, a.examples, a.device)
    print(f"wrote {page} and its figures")
    return 0


def cmd_tasks(a: argparse.Namespace) -> int:
    from dataclasses import asdict

    from omnivec.api.task_list import list_tasks

    rows = list_tasks(a.family)
    if a.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    print(f"{'task':22s} {'family':8s} {'kind':15s} {'modality':8s} {'source':8s} description")
    for r in rows:
        print(f"{r.name:22s} {r.family:8s} {r.kind:15s} {r.modality or 'text':8s} {r.source:8s} {r.description}")
    return 0


def register(sub: Any) -> None:

    t = sub.add_parser("train", help="supervised multitask training of an OmniVec model into a run folder")
    t.add_argument("--tasks", type=comma_list, help="comma-separated task names (see `omnivec tasks`)")
    add_training_flags(t)
    t.add_argument("--keep-checkpoints", type=positive_int, help="complete checkpoints kept (the newest N; default 2)")
    t.add_argument("--num-workers", type=non_negative_int, help="data-loading worker processes")
    t.add_argument("--grad-accum", type=positive_int, help="micro-batches per optimizer step")
    t.add_argument("--train", help="your own data: a folder of class subfolders or a CSV/JSONL manifest")
    t.add_argument("--val", help="held-out data for --train (default: a seeded 10%% holdout of --train)")
    t.add_argument(
        "--modality",
        choices=modality_names(),
        help="modality of --train (default: detected from the file extensions)",
    )
    add_init(t)
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("evaluate", help="score a run (either family) on its tasks' test splits")
    e.add_argument("run")
    e.add_argument("--tasks", type=comma_list)
    e.add_argument("--data-root")
    e.add_argument("--data", help="score on this folder/manifest instead of the tasks' test splits (OmniVec)")
    e.add_argument("--strict", action="store_true", help="stop at the first unreadable file, naming it")
    add_decoding(e)
    e.add_argument(
        "--limit", type=non_negative_int, default=0, help="score at most this many test samples per task (UnIVAL)"
    )
    e.add_argument("--json", action="store_true")
    add_device(e)
    e.set_defaults(fn=cmd_evaluate)

    m = sub.add_parser(
        "embed", help="embeddings of input files (a run of either family), as one .npz with their ids and paths"
    )
    add_run_and_inputs(m)
    m.add_argument(
        "--out", required=True, help="the .npz to write: vectors, ids, paths, labels, meta (never a run or an input)"
    )
    m.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    m.add_argument("--task", help="a retrieval task: embed through its projection, the space its two modalities share")
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

    c = sub.add_parser("config", help="`config show`: a complete, commented config of either family to start from")
    cs = c.add_subparsers(dest="config_command", required=True)
    show = cs.add_parser("show", help="a preset as commented YAML (every field documented)")
    show.add_argument("--preset", default="cpu", help="cpu | tiny | small | base")
    show.add_argument("--family", default="omnivec", choices=family_names())
    show.set_defaults(fn=cmd_config_show, command="config show")

    i = sub.add_parser("info", help="describe a run folder (either family)")
    i.add_argument("run")
    i.add_argument("--json", action="store_true")
    i.set_defaults(fn=cmd_info)

    r = sub.add_parser(
        "report", help="a markdown report with figures for a run: scores, loss curves, confusion, examples"
    )
    r.add_argument("run")
    r.add_argument("--out", help="folder of report.md and its figures (default RUN/report)")
    r.add_argument("--limit", type=non_negative_int, default=1000, help="test samples predicted per task (0: all)")
    r.add_argument("--examples", type=non_negative_int, default=8, help="test inputs shown per task")
    add_device(r)
    r.set_defaults(fn=cmd_report)

    q = sub.add_parser("quickstart", help="train one model on six tasks in five modalities and write a report")
    q.add_argument("--out", default="runs/quickstart")
    q.add_argument("--seed", type=non_negative_int, default=0)
    q.add_argument("--data-root")
    q.add_argument("--quiet", action="store_true")
    q.add_argument("--no-baselines", action="store_true", help="skip the reference specialists (faster)")
    q.set_defaults(fn=cmd_quickstart)

    k = sub.add_parser("tasks", help="every task of both families (OmniVec heads, UnIVAL seq2seq)")
    k.add_argument("--family", choices=family_names(), help="only this family's tasks")
    k.add_argument("--json", action="store_true")
    k.set_defaults(fn=cmd_tasks)
