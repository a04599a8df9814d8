"""CLI for the UnIVAL recipe: ``omnivec generate``, ``omnivec unival pretrain|finetune|evaluate`` and
``omnivec reproduce-unival``. Handlers only parse arguments and call library functions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from omnivec.cli.common import (
    add_decoding,
    add_device,
    add_training_flags,
    build_run_config,
    decoding_of,
    print_best,
    refuse_changed_flags,
    write_jsonl,
)
from omnivec.config import comma_list
from omnivec.config.validate import non_negative_int, positive_int
from omnivec.errors import OmnivecError


def _generate(args: argparse.Namespace) -> int:
    from omnivec.api.predict import generate_files
    from omnivec.data.readers import KNOWN_EXTS

    paths = [Path(p) for p in args.input or []]
    if args.folder:
        folder = Path(args.folder)
        if not folder.is_dir():
            raise OmnivecError(f"--folder {folder} is not a folder")
        paths += sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in KNOWN_EXTS)
    if not paths:
        raise OmnivecError("nothing to generate for: pass --input FILE... or --folder DIR")
    if args.out:
        from omnivec.training.outputs import check_output_file

        check_output_file(Path(args.out), [Path(args.run), *paths])
    records = generate_files(args.run, args.task, paths, args.text, decoding_of(args), args.batch_size, args.device)
    write_jsonl(records, args.out)
    return 0


def _task_batch(text: str) -> dict[str, int]:
    """``grounding_image=32,detect_image=32`` -> {task: samples per step}."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, sep, n = item.partition("=")
        if not sep or not name.strip() or not n.strip().isdigit() or int(n) < 1:
            raise argparse.ArgumentTypeError(f"expected TASK=N with N >= 1, got {item!r}")
        out[name.strip()] = int(n)
    if not out:
        raise argparse.ArgumentTypeError("expected TASK=N[,TASK=N]")
    return out


MANIFEST_STEPS = 600
"""``--manifest`` without ``--steps``: from scratch, 40 MNIST digits + 40 FSDD recordings with short captions reach
held-out CIDEr-D 7.5 (images, 10/10 right) and 3.75 (audio, 5/10; chance 1/10) in ~6 min on one core
(docs/unival.md, "Your own files")."""


def _config(args: argparse.Namespace) -> Any:
    """The shared builder (:func:`omnivec.cli.common.build_run_config`), then what only UnIVAL has: --cnn
    encoders, --tsv files and --manifest files (a point-cloud manifest adds the preset's points encoder to a model
    trained from scratch: UnIVAL's own encoders are image, video and audio)."""
    from omnivec.families.unival import manifest_tasks
    from omnivec.families.unival.tsv_tasks import parse_source

    if args.manifest and args.max_steps is None and not args.config:
        args.max_steps = MANIFEST_STEPS  # the tiny preset's 60 steps learn a user's set to nothing
    cfg = build_run_config(args, "unival")
    if args.cnn:
        from omnivec.families.unival.config import cnn_encoders

        cfg.model.backbone.encoders.update(cnn_encoders())
    for spec in args.tsv or []:
        schema, files = parse_source(spec)
        if schema in cfg.tsv:
            raise OmnivecError(f"--tsv {schema}=... given twice; one training (and test) file per schema")
        cfg.tsv[schema] = files
    for spec in args.manifest or []:
        kind, files = manifest_tasks.parse_source(spec)
        if kind in cfg.manifest:
            raise OmnivecError(f"--manifest {kind}=... given twice; one training (and validation) manifest per kind")
        cfg.manifest[kind] = files
    if any(n.endswith("_points") for n in manifest_tasks.task_names(cfg.manifest)):
        from omnivec.config import preset_model

        cfg.model.backbone.encoders.setdefault("points", preset_model(cfg.preset).encoders["points"])
    return cfg


def _tasks(text: str | None) -> list[str] | None:
    return comma_list(text) if text else None


def _print(results: dict[str, Any]) -> None:
    for name, r in results.items():
        skipped = f"  ({r['skipped']} unreadable test sample(s) skipped)" if r.get("skipped") else ""
        print(f"{name:22s} {r['metric']:10s} {r['value']:.4f}{skipped}")


RESUME_FIELDS = {
    "num_bins": "model.num_bins",
    "label_smoothing": "model.label_smoothing",
    "num_train": "num_train",
    "num_test": "num_test",
    "batch_size": "train.batch_size",
    "task_batch": "task_batch",
    "lr": "train.lr",
    "seed": "train.seed",
    "image_size": "image_size",
    "checkpoint_every": "train.checkpoint_every",
    "stage1_steps": "stage1_steps",
    "encoder_init": "encoder_init",
}
"""Flags of ``unival pretrain|finetune`` and the saved config field each must equal on ``--resume``."""


def _check_resume_flags(args: argparse.Namespace) -> None:
    """``--resume`` takes the saved run's settings: the same command plus ``--resume`` continues it (documented in
    docs/unival.md), but a flag whose value differs from the saved one is refused, never silently ignored."""
    from omnivec.families.unival.config import UnivalRunConfig
    from omnivec.runs import read_config

    if not (Path(args.out) / "config.yaml").is_file():
        return  # resume_run says what is missing
    saved = read_config(args.out, "unival", UnivalRunConfig)
    if args.manifest:  # the same command plus --resume: the same manifests, or a clear refusal
        from omnivec.families.unival.manifest_tasks import parse_source

        given_manifests = dict(parse_source(spec) for spec in args.manifest)
        if given_manifests != saved.manifest:
            raise OmnivecError(
                f"--resume continues {args.out} with its saved manifests {saved.manifest}; --manifest cannot change"
            )
    for flag, field in RESUME_FIELDS.items():
        given = getattr(args, flag, None)
        if given is None:
            continue
        value: Any = saved
        for part in field.split("."):
            value = getattr(value, part)
        if given != value:
            raise OmnivecError(
                f"--resume continues {args.out} with its saved settings: --{flag.replace('_', '-')} {given} "
                f"differs from the saved {field} = {value}; only --steps can change on resume"
            )


def _resume(args: argparse.Namespace) -> int:
    """The run folder's config decides everything; only --steps can extend the run (other flags must match)."""
    from omnivec.families.unival.train import resume_run

    refuse_changed_flags(args, ("set", "train_limit", "test_limit"), ("steps",))  # new flags: no saved twin
    _check_resume_flags(args)
    _print(resume_run(args.out, args.max_steps or 0, not args.quiet, args.eval_limit, args.device))
    print_best(args.out)
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from omnivec.families.unival.train import pretrain

    if args.resume:
        return _resume(args)
    cfg = _config(args)
    cfg.stage1_steps = args.stage1_steps if args.stage1_steps is not None else cfg.train.max_steps // 2
    _print(pretrain(cfg, args.out, _tasks(args.tasks), not args.quiet, args.eval_limit, device=args.device))
    print_best(args.out)
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from omnivec.families.unival.train import finetune

    if args.resume:
        return _resume(args)
    tasks = _tasks(args.tasks) or []
    if not tasks and not args.tsv and not args.manifest:
        raise OmnivecError("give --tasks, --tsv SCHEMA=TRAIN[,TEST], --manifest KIND=TRAIN[,VAL], or several")
    parent = None if args.run == "scratch" else args.run
    cfg = _config(args)
    _print(
        finetune(parent, tasks, args.out, cfg, progress=not args.quiet, eval_limit=args.eval_limit, device=args.device)
    )
    print_best(args.out)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from omnivec.api.evaluate import evaluate_run
    from omnivec.runs import require_family

    require_family(args.run, "unival", "unival evaluate (`omnivec evaluate` takes either family)")
    if args.out:
        from omnivec.training.outputs import check_output_file

        check_output_file(Path(args.out), [Path(args.run)])
    results = evaluate_run(args.run, _tasks(args.tasks), args.device, decoding=decoding_of(args), limit=args.eval_limit)
    _print(results)
    if args.out:
        from omnivec.training.checkpoint import atomic_write_text

        atomic_write_text(Path(args.out), json.dumps(results, indent=2))
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from omnivec.experiments.unival_reproduce import reproduce

    fractions = tuple(float(x) for x in args.audio_fractions)
    if any(not 0 < x <= 100 for x in fractions):
        raise OmnivecError(f"--audio-fractions are percentages in (0, 100], got {args.audio_fractions}")
    run = (args.work, args.out, args.budget, args.data_root or "", args.seeds, args.seed, fractions)
    only = {"parts": args.parts or None, "max_parts": args.max_parts}
    s = reproduce(*run, ledger=args.ledger or None, render_only=args.render, strict=args.strict, **only)
    print(f"{s['ran']} part(s) ran; {len(s['runs'])} complete seed(s) on {args.out}; {len(s['pending'])} pending")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    add_training_flags(p, "unival", "derived")
    p.add_argument("--num-bins", type=positive_int, help="location tokens <bin_0>..<bin_{N-1}> (default 1000)")
    p.add_argument("--cnn", action="store_true", help="ResNet/3D-conv/CNN14 encoders instead of patch encoders")
    p.add_argument(
        "--encoder-init",
        help="an OmniVec run folder whose image/video/audio encoders start the model (UnIVAL's pretrained "
        "encoders); with a parent run, only a from-scratch start uses it",
    )
    p.add_argument(
        "--task-batch",
        type=_task_batch,
        metavar="TASK=N[,TASK=N]",
        help="these tasks' own samples per step (e.g. grounding_image=32,detect_image=32)",
    )
    p.add_argument(
        "--eval-limit", type=non_negative_int, default=0, help="score at most this many test samples per task"
    )
    p.add_argument(
        "--tsv",
        action="append",
        metavar="SCHEMA=TRAIN[,TEST]",
        help="UnIVAL TSV files as tasks tsv_<schema>; SCHEMA: caption, vqa, refcoco, snli_ve, pretrain "
        "(repeatable; without TEST a seeded 10%% of TRAIN is held out)",
    )
    p.add_argument(
        "--manifest",
        action="append",
        metavar="KIND=TRAIN[,VAL]",
        help="your own files (image, video, audio, text, points) as tasks manifest_<kind>_<modality>; KIND: caption, "
        "vqa, grounding; a JSONL/CSV/TSV manifest of path + caption | question, answer | text, box (repeatable; "
        f"without VAL a seeded 10%% of TRAIN is held out; default --steps {MANIFEST_STEPS}; see docs/unival.md)",
    )
    p.add_argument(
        "--image-size", type=positive_int, help="TSV and manifest images are resized to this square side (default 64)"
    )


def register(sub: Any) -> None:
    g = sub.add_parser("generate", help="text from a UnIVAL run for image, video, audio or text files, as JSONL")
    g.add_argument("run", help="UnIVAL run folder")
    g.add_argument(
        "--task",
        default="caption",
        help="caption (any modality), vqa, grounding, matching, classify, summarize, or a task name",
    )
    g.add_argument("--input", nargs="*", help="input files")
    g.add_argument("--folder", help="every readable file in this folder")
    g.add_argument("--text", help="question (vqa), phrase (grounding) or caption (matching)")
    g.add_argument("--out", help="JSONL output (default stdout)")
    add_decoding(g)
    g.add_argument("--batch-size", type=positive_int, default=16)
    add_device(g)
    g.set_defaults(fn=_generate)

    u = sub.add_parser("unival", help="the UnIVAL encoder-decoder: `unival pretrain | finetune | evaluate`")
    us = u.add_subparsers(dest="unival_command", required=True)
    helps = {
        "pretrain": "multitask pretraining of a UnIVAL model with the image -> image+video curriculum",
        "finetune": "fine-tune a UnIVAL run (or 'scratch') on tasks",
        "evaluate": "score a UnIVAL run on tasks",
    }
    p = us.add_parser("pretrain", help=helps["pretrain"], description=helps["pretrain"])
    p.add_argument("--tasks", help="comma-separated tasks (default: stage 1 image-text + stage 2 video-text)")
    p.add_argument("--stage1-steps", type=non_negative_int, help="image-text-only steps (default half)")
    _common(p)
    p.set_defaults(fn=_pretrain, command="unival pretrain")
    f = us.add_parser("finetune", help=helps["finetune"], description=helps["finetune"])
    f.add_argument("run", help="UnIVAL run folder, or 'scratch'")
    f.add_argument("--tasks", help="comma-separated tasks (and/or --tsv files, --manifest files)")
    _common(f)
    f.set_defaults(fn=_finetune, command="unival finetune")
    e = us.add_parser("evaluate", help=helps["evaluate"], description=helps["evaluate"])
    e.add_argument("run")
    e.add_argument("--tasks")
    add_decoding(e)
    e.add_argument("--eval-limit", type=non_negative_int, default=0)
    e.add_argument("--out", help="write the results JSON here")
    add_device(e)
    e.set_defaults(fn=_evaluate, command="unival evaluate")

    r = sub.add_parser(
        "reproduce-unival", help="regenerate the UnIVAL results page, docs/results_unival.md, in ledger parts"
    )
    r.add_argument("--work", default="runs/reproduce-unival", help="folder for the runs")
    r.add_argument("--out", default="docs/results_unival.md")
    r.add_argument("--budget", default="small", choices=["tiny", "small", "medium", "full"], help="tiny: a smoke test")
    r.add_argument("--data-root")
    r.add_argument("--seeds", type=int, default=3, help="seeds from --seed (mean ± std, paired 95%% CIs)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument(
        "--ledger",
        default="results/unival",
        help="folder of committed part records (<ledger>/<budget>/seed-<k>/<part>.json, results/README.md): recorded "
        "parts are skipped; '' keeps records in --work only",
    )
    r.add_argument("--render", action="store_true", help="train nothing: write the page from the ledger alone")
    r.add_argument("--strict", action="store_true", help="refuse a page with a pending or mismatched part")
    r.add_argument("--parts", type=comma_list, default=[], help="run only these parts (names or patterns: 'audio-*')")
    r.add_argument("--max-parts", type=non_negative_int, default=0, help="run at most N unrecorded parts (0: all)")
    r.add_argument(
        "--audio-fractions",
        type=comma_list,
        default=["5", "20", "100"],
        help="percentages of the audio captions for the unseen-modality rows",
    )
    r.set_defaults(fn=_reproduce)
