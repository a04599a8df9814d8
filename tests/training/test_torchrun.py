"""A 2-process torchrun pretraining run on CPU (gloo) trains, and both ranks end with identical weights
although
each rank reads a different shard of the data (so only the gradient all-reduce can keep them equal)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

from data_helpers import torchrun_path

pytestmark = pytest.mark.slow  # 2-process torchrun runs (make test-slow)

SCRIPT = """
import os, sys, torch
from omnivec.config import preset
from omnivec.training.engine import Engine
from omnivec.api.pretrain import pretrain

out = sys.argv[1]
orig = Engine.fit
def fit(self, stop_at=0):
    before = {k: v.clone() for k, v in self.model.state_dict().items()}
    st = orig(self, stop_at)
    torch.save({"before": before, "after": self.model.state_dict(), "world": self.dist.world_size,
                "ddp": type(self.wrapped).__name__}, f"{out}/rank{self.dist.rank}.pt")
    return st
Engine.fit = fit
cfg = preset("tiny")
cfg.num_train, cfg.num_test = 16, 8
cfg.tasks = ["shapes", "solids"]
cfg.train.max_steps, cfg.train.batch_size = 3, 4
pretrain(cfg, out, progress=False)
"""


def test_two_ranks_identical(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    out = tmp_path / "pt"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [torchrun_path(), "--standalone", "--nproc_per_node=2", str(script), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    s0, s1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert s0["world"] == s1["world"] == 2
    assert s0["ddp"] == "DistributedDataParallel"
    changed = [k for k in s0["after"] if not torch.equal(s0["after"][k], s0["before"][k])]
    assert changed, "no weight moved: nothing trained"
    diff = [k for k in s0["after"] if not torch.equal(s0["after"][k], s1["after"][k])]
    assert not diff, f"ranks diverged on {diff[:5]}"
    assert (out / "model.safetensors").is_file()
