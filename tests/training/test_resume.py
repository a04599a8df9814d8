"""A pretraining run killed with SIGKILL right after a checkpoint and resumed ends with the same weights,
bit for
bit on CPU, as the uninterrupted run (with grad accumulation and EMA on, and a padded + a text modality)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from omnivec.training import checkpoint as ckpt

pytestmark = pytest.mark.slow  # a run killed with SIGKILL and resumed (make test-slow)

SCRIPT = """
import sys, time
from omnivec.config import preset
from omnivec.training.engine import Engine
from omnivec.api.pretrain import pretrain

out, mode = sys.argv[1], sys.argv[2]
cfg = preset("tiny")
cfg.num_train, cfg.num_test = 24, 8
cfg.tasks = ["shapes", "tones", "topics"]
cfg.train.max_steps, cfg.train.batch_size, cfg.train.checkpoint_every = 6, 4, 2
cfg.train.grad_accum, cfg.train.ema_decay, cfg.train.log_every = 2, 0.9, 1
if mode == "hang":  # stop forever right after the step-4 checkpoint, to be killed there
    orig = Engine.save_checkpoint
    def save(self):
        orig(self)
        if self.state.step == 4:
            print("CHECKPOINTED", flush=True)
            time.sleep(600)
    Engine.save_checkpoint = save
pretrain(cfg, out, resume=(mode == "resume"), progress=False)
"""


def _run(args: list[str], **kw: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kw,
    )  # type: ignore[call-overload]


def test_kill_and_resume_is_bit_exact(tmp_path: Path) -> None:
    full = _run([str(tmp_path / "full"), "fresh"])
    killed = _run([str(tmp_path / "killed"), "hang"])
    assert killed.stdout is not None
    deadline = time.time() + 240
    line = ""
    while time.time() < deadline and "CHECKPOINTED" not in line:
        line = killed.stdout.readline()
        if not line and killed.poll() is not None:
            break
    assert "CHECKPOINTED" in line, "the run never reached its step-4 checkpoint"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert int(ckpt.load_state(tmp_path / "killed" / ckpt.TRAIN_STATE)["step"]) == 4
    resumed = _run([str(tmp_path / "killed"), "resume"])
    out_r, _ = resumed.communicate(timeout=240)
    out_f, _ = full.communicate(timeout=240)
    assert resumed.returncode == 0, out_r
    assert full.returncode == 0, out_f
    for name in (ckpt.WEIGHTS, "decoder.safetensors", ckpt.EMA_WEIGHTS):
        a = ckpt.load_weights(tmp_path / "full" / name)
        b = ckpt.load_weights(tmp_path / "killed" / name)
        assert a.keys() == b.keys()
        diff = [k for k in a if not torch.equal(a[k], b[k])]
        assert not diff, f"{name}: {diff[:5]} differ"
    init = ckpt.load_weights(tmp_path / "full" / ckpt.WEIGHTS)
    assert int(ckpt.load_state(tmp_path / "killed" / ckpt.TRAIN_STATE)["step"]) == 6
    assert any(v.is_floating_point() for v in init.values())
