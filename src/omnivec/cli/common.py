"""What several command groups share: argument types, the --device flag, result and JSONL printing."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError


def refuse_changed_flags(
    a: argparse.Namespace,
    settings: Sequence[str],
    changeable: Sequence[str] = ("max_steps",),
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


def add_device(p: argparse.ArgumentParser) -> None:
    from omnivec.training.device import DEVICE_HELP

    p.add_argument("--device", default="auto", help=DEVICE_HELP)


def add_run_and_inputs(p: argparse.ArgumentParser) -> None:
    """RUN, --modality and --input: what embed and index both read."""
    p.add_argument("run")
    p.add_argument("--modality", required=True, choices=modality_names())
    p.add_argument("--input", nargs="+", required=True, help="files, or folders (their class subfolders = labels)")


def add_data_flags(p: argparse.ArgumentParser) -> None:
    """The data and config flags train, pretrain and finetune share: caps on the real datasets, ``--set`` and
    ``--strict``, with one meaning everywhere."""
    from omnivec.config.validate import non_negative_int

    p.add_argument("--train-limit", type=non_negative_int, help="cap on training samples per real dataset (0 = all)")
    p.add_argument("--test-limit", type=non_negative_int, help="cap on test samples per real dataset (0 = all)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set model.encoders.image.stem=hmlp --set train.lr=3e-3 (repeatable)",
    )
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable file, naming it")


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


def format_info(info: dict[str, Any]) -> str:
    lines = [f"{k}: {v}" for k, v in info.items() if not isinstance(v, dict)]
    for k, v in info.items():
        if isinstance(v, dict):
            lines.append(f"{k}:")
            lines.extend(f"  {kk}: {vv}" for kk, vv in v.items())
    return "\n".join(lines)
