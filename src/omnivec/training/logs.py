"""The run's JSONL logs (``metrics.jsonl``, ``skipped.jsonl``) and the loss plot.

A log line is appended per record, so a crash or a full disk can leave the last line torn: every reader here
skips a line that is not a JSON object with a warning instead of failing, and a resume rewrites the log up to
its checkpoint's step (:func:`truncate_log`), so each step appears once.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from omnivec.training import checkpoint as ckpt


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL log. A line that is not a JSON object (a torn last line after a crash or a full
    disk) is skipped with a warning, so plotting and resuming never fail on it."""
    if not path.is_file():
        return []
    records: list[dict[str, Any]] = []
    for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if isinstance(rec, dict):
            records.append(rec)
        else:
            warnings.warn(f"{path}:{i}: skipped a line that is not a JSON record", stacklevel=2)
    return records


def truncate_log(path: Path, step: int) -> None:
    """Keep only the metrics records up to ``step`` (and drop torn lines): a run resumed from the checkpoint of
    ``step`` logs the later steps again, and each step must appear once."""
    if not path.is_file():
        return
    kept = [r for r in read_log(path) if isinstance(r.get("step"), int) and r["step"] <= step]
    text = "".join(json.dumps(r) + "\n" for r in kept)
    if text != path.read_text(errors="replace"):
        ckpt.atomic_write_text(path, text)


def plot_losses(log: list[dict[str, Any]], out: Path, title: str = "training loss") -> None:
    """Total loss and each task's loss against the step, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not log:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [r["step"] for r in log]
    ax.plot(steps, [r["loss"] for r in log], label="total", color="black", linewidth=2)
    keys = sorted({k for r in log for k in r if k.endswith("/loss")})
    for k in keys:
        pts = [(r["step"], r[k]) for r in log if k in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=k.removesuffix("/loss"), alpha=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    ckpt.atomic_write(out, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
