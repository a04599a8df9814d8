"""CLI for ``omnivec merge``: runs of either family merged over an α (or λ) grid, each merged run optionally scored.
The handler only parses arguments and calls :func:`omnivec.families.unival.merging.merge_grid`."""

from __future__ import annotations

import argparse
from typing import Any

from omnivec.cli.common import add_decoding, add_device, decoding_of
from omnivec.config import comma_list
from omnivec.config.validate import fraction_float, non_negative_int


def _merge(args: argparse.Namespace) -> int:
    from omnivec.families.unival.merging import merge_grid, parse_alphas

    skip = comma_list(args.skip or "")
    tasks = comma_list(args.eval or "")
    table = merge_grid(
        args.runs,
        args.out,
        args.method,
        None if args.alpha is None else parse_alphas(args.alpha, args.extrapolate),
        args.pretrained,
        skip,
        args.ema,
        tasks,
        args.eval_limit,
        decoding_of(args),
        args.device,
        overwrite=args.overwrite,
        density=args.density,
        seed=args.seed,
    )
    if tasks:
        from omnivec.families.unival.merging import markdown_table

        print(markdown_table(table), end="")
    print(f"merged {len(table['rows'])} run folder(s) under {args.out}")
    return 0


# ---------------------------------------------------------------------------------------- unival


MERGE_METHODS = ["linear", "average", "task-arithmetic", "ties", "dare", "dare-ties"]
"""``merge --method`` choices: families/unival/merging.METHOD_NAMES's keys, spelt here so that parsing the command
line imports no torch (a test keeps the two equal)."""


def register(sub: Any) -> None:
    m = sub.add_parser("merge", help="merge two or more runs (of either family) over an α grid, optionally scored")
    m.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="run folders trained alike: two for every method, more for average, task-arithmetic and ties",
    )
    m.add_argument("--out", required=True, help="the merged run folder (one α) or a folder of alpha_<α> runs")
    m.add_argument(
        "--method",
        default="linear",
        choices=MERGE_METHODS,
        help="linear: (1-α)·A + α·B over the α grid; average: the equal-weight average of the runs (one model); "
        "task-arithmetic / ties / dare / dare-ties: pretrained + λ·Σ task vectors (TIES: top --density by "
        "magnitude, signs elected; DARE: entries dropped at random, kept ones rescaled by 1/--density)",
    )
    m.add_argument(
        "--alpha",
        help="comma-separated α (or λ) values (default 0,0.2,0.4,0.6,0.8,1; average: none, or α-weights of two runs)",
    )
    m.add_argument(
        "--density",
        type=fraction_float,
        help="ties, dare, dare-ties: the share of each task vector kept (default 0.2 for ties, 0.5 for dare)",
    )
    m.add_argument("--seed", type=non_negative_int, default=0, help="dare, dare-ties: seed of the random drops")
    m.add_argument("--pretrained", help="the run every merged run started from (task-arithmetic, ties)")
    m.add_argument("--skip", help="comma-separated name patterns kept from the first run unmerged")
    m.add_argument("--ema", action="store_true", help="merge the EMA weights where present")
    m.add_argument("--extrapolate", action="store_true", help="allow α outside [0, 1]")
    m.add_argument("--overwrite", action="store_true", help="replace an existing --out (run or folder) whole")
    m.add_argument("--eval", help="comma-separated UnIVAL tasks to score at every α")
    m.add_argument("--eval-limit", type=non_negative_int, default=0)
    add_decoding(m, "--eval generation")
    add_device(m)
    m.set_defaults(fn=_merge)
