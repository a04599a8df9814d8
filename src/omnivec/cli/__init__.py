"""The command line: one module per command group, each parsing its arguments and calling one library
function.

    run.py     train, evaluate, embed, predict, info, tasks, config, quickstart
    recipe.py  pretrain, finetune, reproduce                       (the OmniVec recipe)
    unival.py  unival pretrain|finetune|evaluate, generate, reproduce-unival
    merge.py   merge (runs of either family)
    data.py    data list|check|prepare|download
    export.py  export (ONNX; --format hf)
    hf.py      import (Hugging Face folders)
    serve.py   index, search, serve                                 (put a run in front of people)

:func:`main` is the one error boundary: a bad argument, an :class:`OmnivecError` (bad input, config or file) or
an ``OSError`` (missing file, permission, read-only or full disk) prints ONE line, ``omnivec CMD: error: ...``,
and exits 2; an unexpected exception prints one line and a hint to rerun with ``--debug``, which shows the
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from omnivec.errors import OmnivecError

DEBUG_FLAG = "--debug"


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (argparse prints the whole usage first) naming the command and the
    argument; ``--help`` still shows everything."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


COMMAND_GROUPS: dict[str, tuple[str, ...]] = {
    "train a run folder": ("train", "pretrain", "finetune", "unival"),
    "use a run folder": ("evaluate", "predict", "generate", "embed", "info", "report"),
    "combine and ship runs": ("merge", "export", "import"),
    "search and serve": ("index", "search", "serve"),
    "tasks, data and configs": ("tasks", "data", "config"),
    "experiments": ("quickstart", "reproduce", "reproduce-unival"),
}
"""How ``omnivec --help`` lists the commands: by what they are for, not by the module that defines them."""


class _Commands:
    """The subcommand registry the command groups add to: records each command's one-line help for the grouped
    listing of ``omnivec --help`` and shows it atop the command's own ``--help``."""

    def __init__(self, sub: Any) -> None:
        self.sub = sub
        self.helps: dict[str, str] = {}

    def add_parser(self, name: str, **kw: Any) -> argparse.ArgumentParser:
        self.helps[name] = kw.pop("help", "")
        kw.setdefault("description", self.helps[name])
        return self.sub.add_parser(name, **kw)


def _listing(helps: dict[str, str]) -> str:
    width = max(map(len, helps)) + 2
    grouped = [n for names in COMMAND_GROUPS.values() for n in names]
    groups = {**COMMAND_GROUPS, "other": tuple(n for n in helps if n not in grouped)}
    lines = []
    for title, names in groups.items():
        if names:
            lines += [f"{title}:", *(f"  {n:{width}s}{helps[n]}" for n in names if n in helps), ""]
    return "\n".join(lines) + "omnivec COMMAND --help shows a command's flags."


def build_parser() -> argparse.ArgumentParser:
    from omnivec.cli import data, export, hf, merge, recipe, run, serve, unival

    p = Parser(
        prog="omnivec",
        description="Unified multimodal models (OmniVec, UnIVAL): train, use, merge, export and serve run folders.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(DEBUG_FLAG, action="store_true", help="show the full traceback of an unexpected error")
    sub = p.add_subparsers(
        dest="command", required=True, parser_class=Parser, metavar="COMMAND", help="one of the commands below"
    )
    commands = _Commands(sub)
    for group in (run, data, recipe, unival, merge, export, hf, serve):
        group.register(commands)
    p.epilog = _listing(commands.helps)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args_list or os.environ.get("OMNIVEC_DEBUG") == "1"
    args_list = [a for a in args_list if a != DEBUG_FLAG]  # accepted anywhere, not only before the command
    args = build_parser().parse_args(args_list)
    return _run(args, f"omnivec {args.command}", debug)


def finish(code: int) -> NoReturn:
    """Exit with ``code``; a torchrun rank that succeeded leaves without the interpreter's teardown
    (:func:`omnivec.training.distributed.end_rank`, docs/scale.md)."""
    if code == 0 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from omnivec.training.distributed import end_rank

        end_rank(code)
    sys.exit(code)


def entry(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``omnivec`` executable (and ``python -m omnivec``): :func:`main`, then :func:`finish`."""
    finish(main(argv))


def _run(args: argparse.Namespace, where: str, debug: bool) -> int:
    """The command's exit status; a known error is one line naming what failed (the traceback with --debug)."""
    try:
        return int(args.fn(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OmnivecError, OSError, FloatingPointError, UnicodeError, MemoryError) as e:
        if debug:
            traceback.print_exc()
        print(f"{where}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:
        if debug:
            traceback.print_exc()
        print(
            f"{where}: unexpected error: {type(e).__name__}: {_one_line(e)} "
            f"(rerun with {DEBUG_FLAG} for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


def _one_line(e: BaseException) -> str:
    """The message of ``e`` on one line: an OSError with its file (``[Errno 28] No space left on device:
    'run/model.safetensors'``), anything else its text with newlines folded."""
    if isinstance(e, OSError) and e.strerror:
        where = f": {e.filename}" if e.filename else ""
        return f"{e.strerror}{where}"
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 text ({e.reason} at byte {e.start})"
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 2000 else text[:2000] + " ..."


__all__ = ["build_parser", "main"]
