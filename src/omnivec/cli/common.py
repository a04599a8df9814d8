"""What several command groups share: argument types, the --device flag, result and JSONL printing, and the one
flag-to-config builder of every training command (:func:`add_config_flags`, :func:`build_run_config`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError


def refuse_changed_flags(
    a: argparse.Namespace,
    settings: Sequence[str],
    changeable: Sequence[str] = ("steps",),
    defaults: dict[str, Any] | None = None,
) -> None:
    """``--resume`` continues the saved run with its own settings: refuse, naming them, every setting in
    ``settings`` that was given (silently ignoring them was issue 14's defect 7). ``changeable``: what may change
    on resume (the step budget: a run continues to more steps). A setting counts as given when it differs from
    its parser default (None, False, empty, or ``defaults[name]``); ``--seed 0`` is given."""
    defaults = defaults or {}

    def given(k: str) -> bool:
        v = getattr(a, k, None)
        return not (v is None or v is False or v == [] or v == "" or (k in defaults and v == defaults[k]))

    named = [f"--{k.replace('_', '-')}" for k in settings if given(k)]
    if named:
        allowed = ", ".join(f"--{k.replace('_', '-')}" for k in changeable) or "nothing"
        raise OmnivecError(
            f"--resume continues {a.out} with its saved settings; {', '.join(named)} cannot change on resume "
            f"(only {allowed} can); start a new --out to train with other settings"
        )


def modality_names() -> list[str]:
    """Every modality a registered encoder reads (CLI choices come from the registry)."""
    from omnivec.nn.encoders import ENCODERS

    return sorted({str(ENCODERS.get(n).modality) for n in ENCODERS.names()})


def family_names() -> list[str]:
    """Every registered model family (CLI choices come from the registry)."""
    from omnivec.families.registry import FAMILIES

    return FAMILIES.names()


def add_device(p: argparse.ArgumentParser) -> None:
    from omnivec.training.device import DEVICE_HELP

    p.add_argument("--device", default="auto", help=DEVICE_HELP)


def add_decoding(p: argparse.ArgumentParser, what: str = "generation (UnIVAL)") -> None:
    """--beam, --no-repeat-ngram, --length-penalty, --max-len: how answers are generated, the same flags on every
    command that generates (:class:`~omnivec.tasks.seq2seq.Decoding`; read back with :func:`decoding_of`)."""
    from omnivec.config.validate import finite_float, non_negative_int, positive_int

    p.add_argument("--beam", type=positive_int, default=1, help=f"beam size of the {what}; 1: greedy")
    p.add_argument(
        "--no-repeat-ngram",
        type=non_negative_int,
        default=3,
        metavar="N",
        help="never repeat an N-token phrase in an answer, greedy or beam (default 3, as UnIVAL; 0: off)",
    )
    p.add_argument(
        "--length-penalty", type=finite_float, default=1.0, help="beam search: score / length ** this (default 1.0)"
    )
    p.add_argument("--max-len", type=non_negative_int, default=0, help="longest answer in tokens (0: the task's)")


def decoding_of(a: argparse.Namespace) -> Any:
    """The :class:`~omnivec.tasks.seq2seq.Decoding` the flags of :func:`add_decoding` describe."""
    from omnivec.tasks.seq2seq import Decoding

    return Decoding(a.max_len, a.beam, a.no_repeat_ngram, a.length_penalty)


def add_run_and_inputs(p: argparse.ArgumentParser) -> None:
    """RUN, --modality and --input: what embed and index both read."""
    p.add_argument("run")
    p.add_argument("--modality", required=True, choices=modality_names())
    p.add_argument("--input", nargs="+", required=True, help="files, or folders (their class subfolders = labels)")


FLAG_FIELDS: dict[str, str] = {
    **{k: f"train.{k}" for k in ("max_steps", "batch_size", "lr", "seed", "checkpoint_every", "keep_checkpoints")},
    **{k: f"train.{k}" for k in ("num_workers", "grad_accum", "ema_decay", "log_every", "label_fraction")},
    "layer_decay": "train.layer_decay",
    "log_formats": "train.log_formats",
    "grad_checkpoint": "train.grad_checkpoint",
    "precision": "train.precision",
    **{k: f"train.{k}" for k in ("eval_every", "patience", "val_fraction")},
    **{k: k for k in ("num_train", "num_test", "train_limit", "test_limit", "task_batch", "image_size")},
    "encoder_init": "encoder_init",
    "num_bins": "model.num_bins",
    "label_smoothing": "model.label_smoothing",
}
"""Flag (its argparse dest) -> the config field it sets when given. A command has only some of these flags."""


def add_config_flags(p: argparse.ArgumentParser, family: str = "omnivec") -> None:
    """The config and data flags every training command of both families takes, with one meaning everywhere:
    --preset, --config, --set, --train-limit, --test-limit, --data-root and --strict."""
    from omnivec.config import PRESETS
    from omnivec.config.validate import non_negative_int
    from omnivec.families.registry import family as family_named

    default = family_named(family).default_preset
    p.add_argument(
        "--preset",
        help=f"model size and schedule: {' | '.join(PRESETS)} (default {default}; tiny: seconds, for tests; "
        "cpu: minutes on a laptop CPU)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help=f"a config YAML (`omnivec config show --family {family}`): its `preset:` (else --preset) with only "
        "the fields it names overridden",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set train.lr=3e-3 (repeatable; flags given win over --set)",
    )
    p.add_argument("--train-limit", type=non_negative_int, help="cap on training samples per real dataset (0 = no cap)")
    p.add_argument("--test-limit", type=non_negative_int, help="cap on test samples per real dataset (0 = no cap)")
    p.add_argument("--data-root", help="real datasets (default: $OMNIVEC_DATA)")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable file, naming it")


def add_training_flags(p: argparse.ArgumentParser, family: str = "omnivec", derived: str = "generated") -> None:
    """The flags every training command of both families takes, with one spelling and one help text: --out,
    --steps (also spelt --max-steps), --batch-size, --lr, --seed, --checkpoint-every, --num-train, --num-test, the
    config and data flags (:func:`add_config_flags`), --resume, --quiet and --device. ``derived``: how the
    family's built-in tasks come to be (generated, derived from a dataset), for --num-train / --num-test."""
    from omnivec.config.validate import below_one_float, non_negative_int, open_fraction, positive_float, positive_int

    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--steps", "--max-steps", dest="max_steps", metavar="N", type=positive_int, help="optimizer steps")
    p.add_argument("--batch-size", type=positive_int, help="samples per task per step")
    p.add_argument("--lr", type=positive_float, help="peak learning rate (AdamW)")
    p.add_argument("--seed", type=non_negative_int, help="seed for the weights, data order and augmentation")
    p.add_argument(
        "--checkpoint-every", type=non_negative_int, help="write a resumable checkpoint every N steps (0: at the end)"
    )
    p.add_argument("--num-train", type=positive_int, help=f"training samples per {derived} task")
    p.add_argument("--num-test", type=positive_int, help=f"test samples per {derived} task")
    add_config_flags(p, family)
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out where it stopped, with its saved settings"
    )
    p.add_argument(
        "--label-smoothing",
        type=below_one_float,
        metavar="E",
        help="label smoothing of the training cross-entropy: OmniVec's classification heads (default 0), "
        "UnIVAL's decoder (default 0.1)",
    )
    p.add_argument(
        "--eval-every",
        type=non_negative_int,
        metavar="N",
        help="score a validation split (held out of the training data) every N steps and keep the best step as "
        "RUN/best (0: off)",
    )
    p.add_argument(
        "--patience",
        type=non_negative_int,
        metavar="N",
        help="with --eval-every: stop after N validations without gain",
    )
    p.add_argument(
        "--val-fraction",
        type=open_fraction,
        metavar="F",
        help="with --eval-every: share of each task's training data held out for validation (default 0.1)",
    )
    p.add_argument(
        "--grad-checkpoint",
        action="store_true",
        default=None,
        help="recompute the trunk's and decoders' activations in the backward: less memory, ~1/3 more compute",
    )
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="autocast dtype (default auto: bf16 on CUDA, fp32 on CPU); fp16 scales the loss",
    )
    p.add_argument(
        "--log-formats",
        type=_log_formats,
        metavar="LIST",
        help="logs beside metrics.jsonl: tensorboard,csv (the default), one of them, or none",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device(p)


def _log_formats(text: str) -> list[str]:
    from omnivec.training.logs import LOG_FORMATS

    formats = [] if text.strip() == "none" else [f.strip() for f in text.split(",") if f.strip()]
    if unknown := [f for f in formats if f not in LOG_FORMATS]:
        raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; expected {', '.join(LOG_FORMATS)} or none")
    return formats


def build_run_config(a: argparse.Namespace, family: str = "omnivec") -> Any:
    """The run config a training command's flags describe, in one order for every command: the preset (--preset,
    else the family's default) or a --config file on it, then --set, then the flags given (flags win over
    --set), then the schedule and data policy (the family's: :class:`omnivec.families.base.Family`). A flag a
    command lacks, or leaves unset, changes nothing."""
    from omnivec.config import apply_override, load_config_file
    from omnivec.families.registry import family as family_named

    fam = family_named(family)  # its defaults and policy: the registration's class attributes
    name = a.preset or fam.default_preset
    cfg = load_config_file(a.config, fam.config_class, fam.preset, name) if a.config else fam.preset(name)
    for assignment in a.set or []:
        cfg = apply_override(cfg, assignment)
    given = {flag: getattr(a, flag) for flag in FLAG_FIELDS if getattr(a, flag, None) not in (None, "")}
    if fam.limits_cap_sizes:
        given = _limits_as_sizes(cfg, given)
    for flag, value in given.items():
        *path, last = FLAG_FIELDS[flag].split(".")
        node = cfg
        for part in path:
            node = getattr(node, part)
        getattr(node, last)  # a flag sets a field the family's config has (setattr alone would add one silently)
        setattr(node, last, value)
    if getattr(a, "resume", False) and a.max_steps is None:
        cfg.train.max_steps = 0  # resume extends to max(saved, given): without --steps the saved budget holds
    if fam.short_run_schedule:
        cfg.train.warmup_steps = min(cfg.train.warmup_steps, max(1, cfg.train.max_steps // 10))
        cfg.train.log_every = max(1, min(cfg.train.log_every, cfg.train.max_steps // 10))
    cfg.strict = cfg.strict or a.strict
    fallback = os.environ.get("OMNIVEC_DATA", "") if fam.data_root_from_env else cfg.data_root
    cfg.data_root = a.data_root or fallback
    return cfg


def _limits_as_sizes(cfg: Any, given: dict[str, Any]) -> dict[str, Any]:
    """--train-limit / --test-limit as caps on num_train / num_test (0: no cap), in place of the cap fields."""
    out = {k: v for k, v in given.items() if k not in ("train_limit", "test_limit")}
    for limit, size in (("train_limit", "num_train"), ("test_limit", "num_test")):
        if given.get(limit):
            out[size] = min(out.get(size, getattr(cfg, size)), given[limit])
    return out


def add_init(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--init",
        help="start from this run folder's or Hugging Face folder's encoders, trunk, tokenizer and weights "
        "(docs/pretrained.md); task heads (and a pretraining decoder) start fresh",
    )


def write_jsonl(records: list[dict[str, Any]], out: str | None) -> None:
    """One JSON object per line to ``out`` (atomically), or to stdout."""
    from omnivec.training.checkpoint import atomic_write_text

    lines = "".join(json.dumps(r) + "\n" for r in records)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(out), lines)
        print(f"wrote {len(records)} line(s) to {out}")
    else:
        sys.stdout.write(lines)


def print_results(results: dict[str, Any]) -> None:
    """The evaluation table of either family: task, modality, metric, chance (OmniVec), result."""
    if not results:
        return
    print(f"{'task':22s} {'modality':8s} {'metric':9s} {'chance':>7s} {'result':>7s}")
    for r in results.values():
        chance = f"{r['chance']:7.3f}" if "chance" in r else f"{'-':>7s}"
        print(f"{r['task']:22s} {r['modality'] or 'text':8s} {r['metric']:9s} {chance} {r['value']:7.3f}")
    for r in results.values():
        if r.get("skipped"):
            print(f"{r['task']}: skipped {r['skipped']} unreadable file(s) in evaluation")


def print_best(run: str | Path) -> None:
    """After a run with ``--eval-every``: which step was kept as ``RUN/best`` and its test scores."""
    from omnivec.training.selection import BEST, best_info

    info = best_info(Path(run))
    if info is None:
        return
    print(f"best checkpoint: {Path(run) / BEST} (step {info['step']}, validation score {info['score']:.4f})")
    scores = Path(run) / BEST / "eval.json"
    if scores.is_file():
        for r in json.loads(scores.read_text()).values():
            print(f"  {r['task']:20s} {r['metric']:10s} {r['value']:.4f} on the test split")


def format_info(info: dict[str, Any]) -> str:
    lines = [f"{k}: {v}" for k, v in info.items() if not isinstance(v, dict)]
    for k, v in info.items():
        if isinstance(v, dict):
            lines.append(f"{k}:")
            lines.extend(f"  {kk}: {vv}" for kk, vv in v.items())
    return "\n".join(lines)
