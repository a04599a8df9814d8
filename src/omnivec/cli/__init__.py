"""The command line: one module per command group, each parsing its arguments and calling one library
function; errors print one line and exit 2.

    run.py     train, evaluate, embed, predict, info, tasks, config, quickstart
    recipe.py  pretrain, finetune, reproduce                       (the OmniVec recipe)
    unival.py  unival pretrain|finetune|evaluate, generate, merge, reproduce-unival
    data.py    data list|check|prepare|download
    export.py  export (ONNX; --format hf)
    hf.py      import (Hugging Face folders)
    serve.py   index, search, serve                                 (put a run in front of people)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from omnivec.errors import OmnivecError


def build_parser() -> argparse.ArgumentParser:
    from omnivec.cli import data, export, hf, recipe, run, serve, unival

    p = argparse.ArgumentParser(prog="omnivec", description="Unified multimodal models (OmniVec, UnIVAL).")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (run, data, recipe, unival, export, hf, serve):
        group.register(sub)
    return p


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


__all__ = ["build_parser", "main"]
