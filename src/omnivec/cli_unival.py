"""CLI for the UnIVAL recipe: ``omnivec generate``, ``omnivec merge``, ``omnivec unival pretrain|finetune|
evaluate`` and ``omnivec reproduce-unival``. Handlers only parse arguments and call library functions."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError

CNN_ENCODERS = {
    "image": {"name": "image_resnet", "in_chans": 1, "width": 16, "stages": 2},
    "video": {"name": "video_conv3d", "in_chans": 1, "width": 8, "stages": 2},
    "audio": {"name": "audio_cnn14", "sample_rate": 8000, "width": 16, "blocks": 3, "max_seconds": 1.5},
}
"""``--cnn``: UnIVAL's lightweight CNN encoders instead of the patch encoders."""

TASK_ALIASES = {
    "caption": "caption",
    "vqa": "vqa_image",
    "grounding": "grounding_image",
    "matching": "matching_image",
    "classify": "classify_image",
    "summarize": "summarize_text",
}


# ---------------------------------------------------------------------------------------- generate (API)


def resolve_task(task: str, modality: str) -> str:
    """``caption`` -> ``caption_<modality>``; short names (vqa, grounding, …) -> the registered task."""
    from omnivec.unival.tasks import TASKS

    if task in TASKS:
        return task
    if task == "caption":
        return f"caption_{modality}"
    if task in TASK_ALIASES:
        return TASK_ALIASES[task]
    raise OmnivecError(f"unknown --task {task!r}; expected caption, {', '.join(TASK_ALIASES)} or {', '.join(TASKS)}")


def generate_files(
    run: str | Path,
    task: str,
    paths: Sequence[str | Path],
    text: str | None = None,
    beam: int = 1,
    max_len: int | None = None,
    batch_size: int = 16,
    device: str | None = "auto",
) -> list[dict[str, Any]]:
    """Read every file with the real-data readers, generate with the run's model, one record per input.

    Image/video/audio/text files are told apart by extension; ``text`` is the question (vqa), the phrase
    (grounding) or the caption (matching) asked of every file. Grounding records also hold ``box``:
    ``[x0, y0, x1, y1]`` in pixels of the file's image as stored (before the resize to the run's size), or
    None when the output is not four location tokens.
    """
    from omnivec.data.readers import ReadOptions, modality_of, read_sample
    from omnivec.device import resolve_device
    from omnivec.run import require_family
    from omnivec.unival.locations import Grounding, text_to_pixel_box
    from omnivec.unival.model import load_unival
    from omnivec.unival.tasks import get_seq2seq_task

    require_family(run, "unival", "generate (text from an encoder-decoder; `omnivec predict` takes either family)")
    model, cfg = load_unival(run)
    model.to(resolve_device(device))
    enc = cfg.model.backbone.encoders
    opts = ReadOptions(
        image_size=cfg.image_size,
        channels=int(enc.get("image", {}).get("in_chans", 1)),
        sample_rate=int(enc.get("audio", {}).get("sample_rate", 8000)),
        num_frames=8,
        video_size=64,
    )
    groups: dict[str, list[tuple[int, Path, Any]]] = {}
    for i, p in enumerate(paths):
        p = Path(p)
        if not p.is_file():
            raise OmnivecError(f"input {p} is not a file")
        mod = modality_of(p)
        modality = mod.value if mod is not None else "text"
        name = resolve_task(task, modality)
        sample = read_sample(p, modality, opts)
        spec = get_seq2seq_task(name)
        if spec.modality != modality:
            raise OmnivecError(f"{p}: task {name} takes {spec.modality} input, not {modality}")
        if spec.kind in ("vqa", "grounding", "matching"):
            if not text:
                raise OmnivecError(f"task {name} needs --text (the question, phrase or caption)")
            sample = (sample, text)
        groups.setdefault(name, []).append((i, p, sample))
    records: list[dict[str, Any] | None] = [None] * len(paths)
    for name, items in groups.items():
        spec = get_seq2seq_task(name)
        outs = model.generate(
            name, [s for _, _, s in items], beam=beam, max_len=max_len or spec.max_len, batch_size=batch_size
        )
        for (i, p, _), o in zip(items, outs):
            rec: dict[str, Any] = {"input": str(p), "task": name, "output": o, **({"text": text} if text else {})}
            if isinstance(o, Grounding):  # the box in the file's own pixels: a square resize keeps fractions
                rec["output"] = o.text
                box = text_to_pixel_box(o.text, *_stored_size(p), cfg.model.num_bins)
                rec["box"] = list(box) if box is not None else None
            records[i] = rec
    return [r for r in records if r is not None]


def _stored_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file as stored (the header only)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def _generate(args: argparse.Namespace) -> int:
    from omnivec.data.readers import KNOWN_EXTS

    paths = [Path(p) for p in args.input or []]
    if args.folder:
        folder = Path(args.folder)
        if not folder.is_dir():
            raise OmnivecError(f"--folder {folder} is not a folder")
        paths += sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in KNOWN_EXTS)
    if not paths:
        raise OmnivecError("nothing to generate for: pass --input FILE... or --folder DIR")
    records = generate_files(
        args.run, args.task, paths, args.text, args.beam, args.max_len, args.batch_size, args.device
    )
    from omnivec.cli import _write_jsonl

    _write_jsonl(records, args.out)
    return 0


# ---------------------------------------------------------------------------------------- merge


def _merge(args: argparse.Namespace) -> int:
    from omnivec.unival.merging import merge_grid, parse_alphas

    skip = [s for s in (args.skip or "").split(",") if s]
    tasks = [t for t in (args.eval or "").split(",") if t]
    table = merge_grid(
        args.run_a,
        args.run_b,
        args.out,
        args.method,
        parse_alphas(args.alpha),
        args.pretrained,
        skip,
        args.ema,
        tasks,
        args.eval_limit,
        args.beam,
        args.device,
    )
    if tasks:
        from omnivec.unival.merging import markdown_table

        print(markdown_table(table), end="")
    print(f"merged {len(table['rows'])} run folder(s) under {args.out}")
    return 0


# ---------------------------------------------------------------------------------------- unival


def _config(args: argparse.Namespace) -> Any:
    from omnivec.config import load_config_file
    from omnivec.unival.model import UnivalRunConfig, unival_preset
    from omnivec.unival.tsv_tasks import parse_source

    bins = args.num_bins or 1000
    if args.config:  # the file's preset (else --preset), only the fields it names overridden
        cfg = load_config_file(args.config, UnivalRunConfig, lambda n: unival_preset(n, bins), args.preset or "tiny")
        if args.num_bins:
            cfg.model.num_bins = args.num_bins
    else:
        cfg = unival_preset(args.preset or "tiny", bins)
    if args.cnn:
        cfg.model.backbone.encoders.update({k: dict(v) for k, v in CNN_ENCODERS.items()})
    for field in ("num_train", "num_test"):
        if getattr(args, field) is not None:
            setattr(cfg, field, getattr(args, field))
    if args.steps is not None:
        cfg.train.max_steps = args.steps
    if args.batch_size is not None:
        cfg.train.batch_size = args.batch_size
    if args.lr is not None:
        cfg.train.lr = args.lr
    cfg.train.warmup_steps = min(cfg.train.warmup_steps, max(1, cfg.train.max_steps // 10))
    cfg.train.log_every = max(1, min(cfg.train.log_every, cfg.train.max_steps // 10))
    cfg.data_root = args.data_root or cfg.data_root
    if args.checkpoint_every is not None:
        cfg.train.checkpoint_every = args.checkpoint_every
    cfg.strict = cfg.strict or args.strict
    if args.image_size is not None:
        cfg.image_size = args.image_size
    for spec in args.tsv or []:
        schema, files = parse_source(spec)
        if schema in cfg.tsv:
            raise OmnivecError(f"--tsv {schema}=... given twice; one training (and test) file per schema")
        cfg.tsv[schema] = files
    return cfg


def _tasks(text: str | None) -> list[str] | None:
    return [t for t in text.split(",") if t] if text else None


def _print(results: dict[str, Any]) -> None:
    for name, r in results.items():
        skipped = f"  ({r['skipped']} unreadable test sample(s) skipped)" if r.get("skipped") else ""
        print(f"{name:22s} {r['metric']:10s} {r['value']:.4f}{skipped}")


def _resume(args: argparse.Namespace) -> int:
    """The run folder's config decides everything; only --steps can extend the run."""
    from omnivec.unival.train import resume_run

    _print(resume_run(args.out, args.steps or 0, progress=not args.quiet, eval_limit=args.eval_limit))
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from omnivec.unival.train import pretrain

    if args.resume:
        return _resume(args)
    cfg = _config(args)
    cfg.stage1_steps = args.stage1_steps if args.stage1_steps is not None else cfg.train.max_steps // 2
    _print(pretrain(cfg, args.out, _tasks(args.tasks), progress=not args.quiet, eval_limit=args.eval_limit))
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from omnivec.unival.train import finetune

    if args.resume:
        return _resume(args)
    tasks = _tasks(args.tasks) or []
    if not tasks and not args.tsv:
        raise OmnivecError("give --tasks, --tsv SCHEMA=TRAIN[,TEST], or both")
    parent = None if args.run == "scratch" else args.run
    cfg = _config(args)
    _print(finetune(parent, tasks, args.out, cfg, progress=not args.quiet, eval_limit=args.eval_limit))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from omnivec.evaluate import evaluate_run
    from omnivec.run import require_family

    require_family(args.run, "unival", "unival evaluate (`omnivec evaluate` takes either family)")
    results = evaluate_run(args.run, _tasks(args.tasks), args.device, beam=args.beam, limit=args.eval_limit)
    _print(results)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from omnivec.unival.reproduce import reproduce

    reproduce(args.work, args.out, budget=args.budget, data_root=args.data_root or "")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=["tiny", "small", "base"], help="size preset (default tiny)")
    p.add_argument(
        "--config",
        help="a UnIVAL config YAML (`omnivec config show --family unival`): its preset with only the fields it names "
        "overridden; flags given override it",
    )
    p.add_argument("--num-bins", type=int, help="location tokens <bin_0>..<bin_{N-1}> (default 1000)")
    p.add_argument("--cnn", action="store_true", help="ResNet/3D-conv/CNN14 encoders instead of patch encoders")
    p.add_argument("--num-train", type=int, help="training samples per derived task")
    p.add_argument("--num-test", type=int, help="test samples per derived task")
    p.add_argument("--steps", type=int, help="optimizer steps")
    p.add_argument("--batch-size", type=int, help="samples per task per step")
    p.add_argument("--lr", type=float)
    p.add_argument("--data-root", help="real-data root (default $OMNIVEC_DATA)")
    p.add_argument("--eval-limit", type=int, default=0, help="score at most this many test samples per task")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--tsv",
        action="append",
        metavar="SCHEMA=TRAIN[,TEST]",
        help="UnIVAL TSV files as tasks tsv_<schema>; SCHEMA: caption, vqa, refcoco, snli_ve, pretrain "
        "(repeatable; without TEST a seeded 10%% of TRAIN is held out)",
    )
    p.add_argument("--image-size", type=int, help="TSV images are resized to this square side (default 64)")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable TSV row, naming it")
    p.add_argument("--checkpoint-every", type=int, help="write a resumable checkpoint every N steps")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out where it stopped (its config decides; --steps may extend it)",
    )


def _device(p: argparse.ArgumentParser) -> None:
    from omnivec.cli import add_device

    add_device(p)


def register(sub: Any) -> None:
    g = sub.add_parser("generate", help="generate text with a UnIVAL run for image/video/audio/text files")
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
    g.add_argument("--beam", type=int, default=1)
    g.add_argument("--max-len", type=int)
    g.add_argument("--batch-size", type=int, default=16)
    _device(g)
    g.set_defaults(fn=_generate)

    m = sub.add_parser("merge", help="merge two runs over an α grid, optionally scoring every α")
    m.add_argument("run_a")
    m.add_argument("run_b")
    m.add_argument("--out", required=True)
    m.add_argument("--method", default="linear", choices=["linear", "average", "task-arithmetic", "ties"])
    m.add_argument("--alpha", default="0,0.2,0.4,0.6,0.8,1", help="comma-separated α (or λ) values")
    m.add_argument("--pretrained", help="the run both started from (task-arithmetic, ties)")
    m.add_argument("--skip", help="comma-separated name patterns kept from run A unmerged")
    m.add_argument("--ema", action="store_true", help="merge the EMA weights where present")
    m.add_argument("--eval", help="comma-separated UnIVAL tasks to score at every α")
    m.add_argument("--eval-limit", type=int, default=0)
    m.add_argument("--beam", type=int, default=1)
    _device(m)
    m.set_defaults(fn=_merge)

    u = sub.add_parser("unival", help="UnIVAL recipe: pretrain, finetune, evaluate")
    us = u.add_subparsers(dest="unival_command", required=True)
    p = us.add_parser("pretrain", help="multitask pretraining with the image -> image+video curriculum")
    p.add_argument("--out", required=True)
    p.add_argument("--tasks", help="comma-separated tasks (default: stage 1 image-text + stage 2 video-text)")
    p.add_argument("--stage1-steps", type=int, help="image-text-only steps (default half)")
    _common(p)
    p.set_defaults(fn=_pretrain, command="unival pretrain")
    f = us.add_parser("finetune", help="fine-tune a run (or 'scratch') on tasks")
    f.add_argument("run", help="UnIVAL run folder, or 'scratch'")
    f.add_argument("--tasks", help="comma-separated tasks (and/or --tsv files)")
    f.add_argument("--out", required=True)
    _common(f)
    f.set_defaults(fn=_finetune, command="unival finetune")
    e = us.add_parser("evaluate", help="score a run on tasks")
    e.add_argument("run")
    e.add_argument("--tasks")
    e.add_argument("--beam", type=int, default=1)
    e.add_argument("--eval-limit", type=int, default=0)
    e.add_argument("--out", help="write the results JSON here")
    _device(e)
    e.set_defaults(fn=_evaluate, command="unival evaluate")

    r = sub.add_parser("reproduce-unival", help="regenerate docs/results_unival.md (small CPU budget)")
    r.add_argument("--work", default="runs/reproduce-unival", help="folder for the runs")
    r.add_argument("--out", default="docs/results_unival.md")
    r.add_argument("--budget", default="small", choices=["tiny", "small", "medium"], help="tiny: a smoke test")
    r.add_argument("--data-root")
    r.set_defaults(fn=_reproduce)
