"""A torchrun rank leaves through ``end_rank``: exit handlers run, buffered output reaches its stream, the process
ends with the command's status and nothing after it runs (the interpreter's teardown, where torch's C++ objects
can abort a finished rank, is skipped)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import atexit, sys, torch.distributed as dist
from omnivec.training.distributed import end_rank

dist.init_process_group("gloo", init_method="file://{store}", rank=0, world_size=1)
atexit.register(lambda: open("{marker}", "w").write("exit handler ran"))
sys.stdout.write("buffered, no newline")
end_rank(3)
print("after end_rank")
"""


def test_a_rank_ends_with_its_status_after_its_exit_handlers_and_output(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    script = SCRIPT.format(store=tmp_path / "store", marker=marker)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    assert r.stdout == "buffered, no newline"
    assert marker.read_text() == "exit handler ran"


def test_outside_a_process_group_end_rank_returns() -> None:
    from omnivec.training.distributed import end_rank

    end_rank(0)  # no group: a plain process goes on (and exits normally)
