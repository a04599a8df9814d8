"""Merging over an α grid (UnIVAL §5.2 "weight interpolation"): one merged run folder per α, each scored
on the given tasks, a table (markdown + JSON) and the λ-curve PNG.

Methods map the grid value onto merge.py's functions:
- ``linear``: ``(1-α)·A + α·B`` (α = 0 is A, bit for bit; α = 1 is B);
- ``average``: weighted average with weights ``(1-α, α)`` (same as linear, in float64, through ``average``);
- ``task-arithmetic`` / ``ties``: ``pretrained + α·Σ τ_i`` with both fine-tunes' task vectors (needs
  ``--pretrained``); α is the scaling λ.
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
}


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
    run_a: Path,
    run_b: Path,
    out: Path,
    method: str,
    alpha: float,
    pretrained: Path | None,
    skip: Sequence[str],
    ema: bool,
    overwrite: bool = False,
) -> Path:
    if method not in METHOD_NAMES:
        raise OmnivecError(f"unknown --method {method!r}; expected one of {', '.join(METHOD_NAMES)}")
    m = METHOD_NAMES[method]
    kw: dict[str, Any] = {"skip": skip, "use_ema": ema, "overwrite": overwrite}
    if m == "interpolate":
        return merge_runs([run_a, run_b], out, m, alpha=alpha, **kw)
    if m == "average":
        return merge_runs([run_a, run_b], out, m, weights=[1 - alpha, alpha], **kw)
    return merge_runs([run_a, run_b], out, m, pretrained=pretrained, scale=alpha, **kw)


def merge_grid(
    run_a: str | Path,
    run_b: str | Path,
    out: str | Path,
    method: str,
    alphas: Sequence[float],
    pretrained: str | Path | None = None,
    skip: Sequence[str] = (),
    ema: bool = False,
    eval_tasks: Sequence[str] = (),
    eval_limit: int = 0,
    beam: int = 1,
    device: str | None = "auto",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Merge at every α; with one α ``out`` itself is the merged run folder, otherwise ``out/alpha_<α>``. Runs of
    either family merge (same architecture); ``eval_tasks`` are scored with :func:`omnivec.api.evaluate.evaluate_run`.
    ``out`` must not be an input, inside one, or an existing run or non-empty folder (unless ``overwrite``,
    which replaces it whole)."""
    from omnivec.api.evaluate import evaluate_run

    a, b, o = Path(run_a), Path(run_b), Path(out)
    pre = Path(pretrained) if pretrained else None
    check_output_folder(o, [a, b, *([pre] if pre else [])], overwrite)
    rows: list[dict[str, Any]] = []

    def merge_into(folder: Path, alpha: float, replace: bool) -> None:
        merge_one(a, b, folder, method, alpha, pre, skip, ema, overwrite=replace)
        row: dict[str, Any] = {"alpha": alpha, "run": str(o if len(alphas) == 1 else o / folder.name)}
        if eval_tasks:
            res = evaluate_run(folder, eval_tasks, device, beam=beam, limit=eval_limit)
            ckpt.atomic_write_text(folder / "eval.json", json.dumps(res, indent=2))
            row.update({t: r["value"] for t, r in res.items()})
            row["metrics"] = {t: r["metric"] for t, r in res.items()}
        rows.append(row)

    def write_table(folder: Path) -> dict[str, Any]:
        table = _table(a, b, method, pre, skip, ema, eval_tasks, rows)
        if eval_tasks:
            ckpt.atomic_write_text(folder / "merge_table.json", json.dumps(table, indent=2))
            ckpt.atomic_write_text(folder / "merge_table.md", markdown_table(table))
            if len(alphas) > 1:
                plot_curve(table, folder / "lambda_curve.png")
        return table

    # one run folder: merge_runs writes it atomically itself (omnivec.training.checkpoint.atomic_folder)
    if len(alphas) == 1:
        merge_into(o, alphas[0], overwrite)
        return write_table(o)
    # a grid is written into a temporary sibling that replaces ``o`` whole only at the end (so no old α folder or
    # table survives beside the new ones); a refused input, an error or a kill leaves ``o`` as it was
    with staged_folder(o) as tmp:
        for alpha in alphas:
            merge_into(tmp / f"alpha_{alpha:g}", alpha, False)
        return write_table(tmp)


def _table(
    a: Path,
    b: Path,
    method: str,
    pre: Path | None,
    skip: Sequence[str],
    ema: bool,
    eval_tasks: Sequence[str],
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "run_a": str(a),
        "run_b": str(b),
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
        lines.append(f"| {r['alpha']:g} | " + " | ".join(f"{r[t]:.3f}" for t in tasks) + " |")
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
