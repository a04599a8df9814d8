"""Merging over an α grid (UnIVAL §5.2 "weight interpolation"): one merged run folder per α, each scored
on the given tasks, a table (markdown + JSON) and the λ-curve PNG.

Methods map the grid value onto merge.py's functions:
- ``linear``: ``(1-α)·A + α·B`` (α = 0 is A, bit for bit; α = 1 is B);
- ``average``: the equal-weight average of the runs (a model soup): one merged folder, no grid; given ``--alpha``,
  two runs are averaged with weights ``(1-α, α)`` at each α;
- ``task-arithmetic`` / ``ties`` / ``dare`` / ``dare-ties``: ``pretrained + λ·Σ τ_i`` with every fine-tune's
  task vector (TIES trims each to its top ``density`` and elects signs; DARE drops entries at random with
  probability 1 - ``density`` and rescales the rest; needs ``--pretrained``); α is the scaling λ.

Two runs take every method; more take ``average`` and the task-vector methods (their λ grid is the same for any
number of task vectors). :func:`check_grid` refuses anything else before a file is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.api.merge import merge_runs
from omnivec.errors import OmnivecError
from omnivec.training import checkpoint as ckpt
from omnivec.training.outputs import check_output_folder, staged_folder

METHOD_NAMES = {
    "linear": "interpolate",
    "average": "average",
    "task-arithmetic": "task_arithmetic",
    "ties": "ties",
    "dare": "dare",
    "dare-ties": "dare_ties",
}

DEFAULT_ALPHAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
"""The grid without ``--alpha`` (of α, or of λ)."""


def check_grid(num_runs: int, method: str, alphas: Sequence[float] | None) -> list[float | None]:
    """The grid to merge ``num_runs`` run folders over with ``method``; ``alphas`` None: the default grid.
    ``[None]``: one merge without α (an equal-weight average of more than two runs)."""
    if method not in METHOD_NAMES:
        raise OmnivecError(f"unknown --method {method!r}; expected one of {', '.join(METHOD_NAMES)}")
    if num_runs < 2:
        raise OmnivecError(f"merge takes two or more run folders, got {num_runs}")
    if num_runs > 2 and method == "linear":
        raise OmnivecError(
            f"--method linear interpolates two runs, got {num_runs}; for more use average, task-arithmetic or ties"
        )
    if method == "average":  # a soup: one model, unless --alpha asks for weighted averages of two runs
        if alphas is not None and num_runs > 2:
            raise OmnivecError(f"--alpha weighs two runs; the average of {num_runs} runs takes equal weights")
        return [None] if alphas is None else list(alphas)
    return list(DEFAULT_ALPHAS if alphas is None else alphas)


def parse_alphas(text: str, extrapolate: bool = False) -> list[float]:
    """The α grid of ``--alpha``: finite numbers in [0, 1] (outside it only with ``extrapolate``: α = 1.5 is a
    different model from either run, never a typo to merge silently; NaN made an all-NaN model)."""
    try:
        alphas = [float(a) for a in text.split(",") if a.strip()]
    except ValueError:
        raise OmnivecError(f"--alpha takes comma-separated numbers, got {text!r}") from None
    if not alphas:
        raise OmnivecError("--alpha needs at least one value")
    for a in alphas:
        if not math.isfinite(a):
            raise OmnivecError(f"--alpha: expected finite numbers, got {a} in {text!r}")
        if not extrapolate and not 0.0 <= a <= 1.0:
            raise OmnivecError(f"--alpha: expected values in [0, 1], got {a:g}; pass --extrapolate to go beyond")
    if len(set(alphas)) != len(alphas):
        raise OmnivecError(f"--alpha: a value is given twice in {text!r}")
    return alphas


def merge_one(
    runs: Sequence[Path],
    out: Path,
    method: str,
    alpha: float | None,
    pretrained: Path | None,
    skip: Sequence[str],
    ema: bool,
    overwrite: bool = False,
    density: float | None = None,
    seed: int = 0,
) -> Path:
    """One merged run folder: ``alpha`` None is the equal-weight average (:func:`check_grid`)."""
    if method not in METHOD_NAMES:
        raise OmnivecError(f"unknown --method {method!r}; expected one of {', '.join(METHOD_NAMES)}")
    m = METHOD_NAMES[method]
    kw: dict[str, Any] = {"skip": skip, "use_ema": ema, "overwrite": overwrite}
    if m in ("ties", "dare", "dare_ties"):
        kw |= {"density": density, "seed": seed}
    elif density is not None:
        raise OmnivecError(f"--density is for ties, dare and dare-ties, not --method {method}")
    if alpha is None:
        return merge_runs(runs, out, m, **kw)
    if m == "interpolate":
        return merge_runs(runs, out, m, alpha=alpha, **kw)
    if m == "average":
        return merge_runs(runs, out, m, weights=[1 - alpha, alpha], **kw)
    return merge_runs(runs, out, m, pretrained=pretrained, scale=alpha, **kw)


def merge_grid(
    runs: Sequence[str | Path],
    out: str | Path,
    method: str,
    alphas: Sequence[float] | None = None,
    pretrained: str | Path | None = None,
    skip: Sequence[str] = (),
    ema: bool = False,
    eval_tasks: Sequence[str] = (),
    eval_limit: int = 0,
    decoding: Any = None,
    device: str | None = "auto",
    overwrite: bool = False,
    density: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Merge ``runs`` (two or more) at every α of the grid (:func:`check_grid`; None: the default grid); with one
    α ``out`` itself is the merged run folder, otherwise ``out/alpha_<α>``. Runs of either family merge (same
    architecture); ``eval_tasks`` are scored with :func:`omnivec.api.evaluate.evaluate_run`, generating under
    ``decoding`` (a :class:`~omnivec.tasks.seq2seq.Decoding`; None: its defaults).
    ``out`` must not be an input, inside one, or an existing run or non-empty folder (unless ``overwrite``,
    which replaces it whole)."""
    from omnivec.api.evaluate import evaluate_run

    ins, o = [Path(r) for r in runs], Path(out)
    grid = check_grid(len(ins), method, alphas)
    if density is not None and METHOD_NAMES[method] not in ("ties", "dare", "dare_ties"):
        raise OmnivecError(f"--density is for ties, dare and dare-ties, not --method {method}")
    pre = Path(pretrained) if pretrained else None
    check_output_folder(o, [*ins, *([pre] if pre else [])], overwrite)
    rows: list[dict[str, Any]] = []

    def merge_into(folder: Path, alpha: float | None, replace: bool) -> None:
        merge_one(ins, folder, method, alpha, pre, skip, ema, overwrite=replace, density=density, seed=seed)
        row: dict[str, Any] = {"alpha": alpha, "run": str(o if len(grid) == 1 else o / folder.name)}
        if eval_tasks:
            res = evaluate_run(folder, eval_tasks, device, decoding=decoding, limit=eval_limit)
            ckpt.atomic_write_text(folder / "eval.json", json.dumps(res, indent=2))
            row.update({t: r["value"] for t, r in res.items()})
            row["metrics"] = {t: r["metric"] for t, r in res.items()}
        rows.append(row)

    def write_table(folder: Path) -> dict[str, Any]:
        table = _table(ins, method, pre, skip, ema, eval_tasks, rows)
        if eval_tasks:
            ckpt.atomic_write_text(folder / "merge_table.json", json.dumps(table, indent=2))
            ckpt.atomic_write_text(folder / "merge_table.md", markdown_table(table))
            if len(grid) > 1:
                plot_curve(table, folder / "lambda_curve.png")
        return table

    if (
        len(grid) == 1
    ):  # one run folder: merge_runs writes it atomically itself (omnivec.training.checkpoint.atomic_folder)
        merge_into(o, grid[0], overwrite)
        return write_table(o)
    # a grid is written into a temporary sibling that replaces ``o`` whole only at the end (so no old α folder or
    # table survives beside the new ones); a refused input, an error or a kill leaves ``o`` as it was
    with staged_folder(o) as tmp:
        for alpha in grid:
            merge_into(tmp / f"alpha_{alpha:g}", alpha, False)
        return write_table(tmp)


def _table(
    runs: Sequence[Path],
    method: str,
    pre: Path | None,
    skip: Sequence[str],
    ema: bool,
    eval_tasks: Sequence[str],
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    # two runs: run_a and run_b, as the table has always said; more: the list
    named = {"run_a": str(runs[0]), "run_b": str(runs[1])} if len(runs) == 2 else {"runs": [str(r) for r in runs]}
    return {
        **named,
        "method": method,
        "pretrained": str(pre) if pre else None,
        "skip": list(skip),
        "ema": ema,
        "tasks": list(eval_tasks),
        "rows": rows,
    }


def markdown_table(table: dict[str, Any]) -> str:
    tasks = table["tasks"]
    metrics = table["rows"][0].get("metrics", {}) if table["rows"] else {}
    head = "| α | " + " | ".join(f"{t} ({metrics.get(t, '')})" for t in tasks) + " |"
    lines = [head, "|---|" + "---|" * len(tasks)]
    for r in table["rows"]:
        alpha = "equal weights" if r["alpha"] is None else f"{r['alpha']:g}"
        lines.append(f"| {alpha} | " + " | ".join(f"{r[t]:.3f}" for t in tasks) + " |")
    return "\n".join(lines) + "\n"


def plot_curve(table: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [r["alpha"] for r in table["rows"]]
    for t in table["tasks"]:
        ax.plot(xs, [r[t] for r in table["rows"]], marker="o", label=t)
    ax.set_xlabel("α (0 = run A, 1 = run B)" if table["method"] in ("linear", "average") else "λ")
    ax.set_ylabel("score")
    ax.set_title(f"{table['method']} merge")
    ax.legend()
    fig.tight_layout()
    ckpt.atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
