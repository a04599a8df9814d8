"""``bench/gpu_check.sh --dry-run`` runs every step of the GPU check on the CPU (tiny shapes) and writes its
table with every step ok: what the GPU machine runs was exercised here first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a server process and a pytest run of its own

REPO = Path(__file__).parents[1]


def test_gpu_check_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.md"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [str(REPO / "bench/gpu_check.sh"), "--dry-run", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ") and "---" not in line][1:]
    steps = [row.split(" | ")[0].lstrip("| ") for row in rows]
    assert len(steps) == 8, steps
    assert all(" | ok | " in row for row in rows), rows
    assert "device tests" in steps[0] and "tests collected" in rows[0]
