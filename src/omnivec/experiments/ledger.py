"""Results that outlive a session: a ledger of finished parts committed under ``results/`` in the repository.

A run folder under ``runs/`` is lost with the session that made it; a long table (hours of parts over several
sessions) is kept as one small JSON record per finished part, written the moment the part ends and committed.
Each record says what was run (the part's config and its short hash), what it scored, and where and when it ran
(git commit, torch, threads, a measured matmul speed), so a later session can skip it, re-create its folder when a
later part needs it (checking the logged losses against the record), or render the table from records alone.
The layout and the fields are described in ``results/README.md``; docs/recipe.md, "Results that outlive a session".
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import statistics
import subprocess
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError
from omnivec.training import checkpoint as ckpt
from omnivec.training.logs import read_log

LOSS_POINTS = 20
"""At most this many (step, loss) points of a run's log are kept: enough to check a re-creation, short to read."""
LOSS_RTOL = 1e-3
"""A re-created run's losses must match its record to this relative tolerance, not exactly. CPU training replays
bit for bit with the same torch build and thread count (the engine seeds every draw), but another thread count or
BLAS build sums float32 products in another order, and those last-bit differences drift over the steps; a changed
model, schedule or data moves a loss by far more than 0.1 %. A mismatch names both losses and both machines."""


def config_hash(config: dict[str, Any]) -> str:
    """12 hex digits of the sha256 of ``config`` as sorted, compact JSON: stable across runs and machines."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@functools.cache
def git_commit() -> str:
    """The commit of the code this process runs (read once: later commits of results do not change the code)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


@functools.cache
def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    """The machine's fp32 matmul speed (GFLOP/s, median of ``repeats`` timed ``n``^3 products), measured once per
    process: wall times recorded on a shared or a different machine are read against it."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up: the first product pays for allocation and thread start
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return round(2 * n**3 / statistics.median(times) / 1e9, 1)


@functools.cache
def cpu_name() -> str:
    """The CPU's model name and the vector instructions torch's kernels use (``AMD EPYC (AVX512)``): floating
    point sums, hence a replayed run's losses, can differ between CPUs."""
    import platform

    import torch

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name} ({torch.backends.cpu.get_cpu_capability()})"


def provenance() -> dict[str, Any]:
    """Where and when a part ran."""
    import torch

    return {
        "commit": git_commit(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "matmul_gflops": matmul_gflops(),
        "cpu": cpu_name(),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def machines_text(machines: Iterable[Sequence[float]]) -> str:
    """The machines of some records, from their ``(threads, matmul_gflops)``: ``2 CPU threads, fp32 matmul 50
    GFLOP/s`` (a range when they differ), to read wall times against; ``CPU`` when there are none."""
    found = sorted({(int(m[0]), float(m[1])) for m in machines})
    if not found:
        return "CPU"
    threads = sorted({t for t, _ in found})
    low, high = min(g for _, g in found), max(g for _, g in found)
    speed = f"{low:.0f}" if round(low) == round(high) else f"{low:.0f}-{high:.0f}"
    return f"{'/'.join(map(str, threads))} CPU threads, fp32 matmul {speed} GFLOP/s"


def loss_trajectory(run_dir: Path, points: int = LOSS_POINTS) -> list[list[float]]:
    """``[[step, loss], ...]`` from the run folder's metrics log, at most ``points`` of them evenly spread (the
    last step always kept); empty when the folder has no log."""
    log = [r for r in read_log(run_dir / ckpt.METRICS) if "step" in r and "loss" in r]
    if len(log) > points:
        idx = sorted({round(i * (len(log) - 1) / (points - 1)) for i in range(points)})
        log = [log[i] for i in idx]
    return [[int(r["step"]), float(r["loss"])] for r in log]


def check_losses(
    name: str, recorded: list[list[float]], now: list[list[float]], rtol: float = LOSS_RTOL, where: str = ""
) -> None:
    """Raise unless the re-created run ``now`` logged the recorded losses at every step both have; ``where``
    (the two machines) is added to the message."""
    again = {int(s): v for s, v in now}
    common = [(int(s), v) for s, v in recorded if int(s) in again]
    if recorded and not common:
        raise OmnivecError(f"part {name!r} re-created, but its log shares no step with the ledger's {recorded}")
    for step, v in common:
        if not math.isclose(again[step], v, rel_tol=rtol, abs_tol=1e-12):
            raise OmnivecError(
                f"part {name!r} re-created with a different loss at step {step}: {again[step]:.6g} now, "
                f"{v:.6g} in the ledger (relative tolerance {rtol:g}); the code, data or machine differs from the "
                f"run that the ledger records, so parts built on it would not match the committed table{where}"
            )


class Ledger:
    """One experiment's records under ``root`` (e.g. ``results/label-scarce/small/real/seed-0``): a part named
    ``labels-10/a-mnist`` is the file ``root/labels-10/a-mnist.json``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def read(self, name: str) -> dict[str, Any] | None:
        f = self.path(name)
        return json.loads(f.read_text()) if f.is_file() else None

    def find(self, name: str, config_hash: str) -> dict[str, Any] | None:
        """The record of ``name`` if it was made for the config of ``config_hash`` (else it is mismatched)."""
        rec = self.read(name)
        return rec if rec is not None and rec.get("config_hash") == config_hash else None

    def write(self, record: dict[str, Any]) -> None:
        """Write a record atomically (a part killed while writing leaves the old file or none, never half)."""
        f = self.path(record["part"])
        f.parent.mkdir(parents=True, exist_ok=True)
        ckpt.atomic_write_text(f, json.dumps(record, indent=2) + "\n")


__all__ = [
    "LOSS_RTOL",
    "Ledger",
    "check_losses",
    "config_hash",
    "git_commit",
    "loss_trajectory",
    "machines_text",
    "matmul_gflops",
    "provenance",
]
