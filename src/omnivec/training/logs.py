"""The run's JSONL logs (``metrics.jsonl``, ``skipped.jsonl``), what users' tools open beside them (TensorBoard
event files, ``metrics.csv``) and the loss plot.

A log line is appended per record, so a crash or a full disk can leave the last line torn: every reader here
skips a line that is not a JSON object with a warning instead of failing, and a resume rewrites the log up to
its checkpoint's step (:func:`truncate_log`), so each step appears once.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError
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


LOG_FORMATS = ("tensorboard", "csv")
TENSORBOARD_DIR = "tensorboard"
CSV = "metrics.csv"


def check_log_formats(formats: list[str]) -> None:
    unknown = [f for f in formats if f not in LOG_FORMATS]
    if unknown:
        expected = ", ".join(LOG_FORMATS)
        raise OmnivecError(f"train.log_formats: unknown {', '.join(unknown)}; expected some of {expected}")


def write_csv(log: Path, out: Path) -> None:
    """``out`` rewritten from the JSONL ``log``: one row per record, a column per key in order of first appearance
    (a key a record lacks is an empty cell), so a resumed run's CSV has each step once, as its JSONL."""
    records = read_log(log)
    columns = list(dict.fromkeys(k for r in records for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    ckpt.atomic_write_text(out, buf.getvalue())


class TensorBoardLog:
    """Every numeric field of each metrics record as a TensorBoard scalar at its step (``loss``, ``lr``,
    ``mnist/accuracy``, ...), under ``run/tensorboard/``. A resumed run passes the first step it will log as
    ``purge_step``: TensorBoard then hides the events the interrupted run wrote from that step on, so each step
    shows once, as in ``metrics.jsonl``."""

    def __init__(self, run_dir: Path, purge_step: int | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # a base dependency; this names the fix if an environment lacks it
            raise OmnivecError(
                "train.log_formats names tensorboard but the tensorboard package is missing: pip install "
                "tensorboard, or --log-formats csv (or none)"
            ) from e
        self.writer = SummaryWriter(str(run_dir / TENSORBOARD_DIR), purge_step=purge_step, flush_secs=30)

    def write(self, rec: dict[str, Any]) -> None:
        step = int(rec["step"])
        for key, value in rec.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self.writer.close()


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
