"""A UnIVAL pretraining run stopped right after a checkpoint and resumed through ``--resume`` ends with the same
weights, EMA, log and evaluation, bit for bit on CPU, as the uninterrupted run (grad accumulation and EMA on):
the saved config brings back the tasks (read from a TSV file), the curriculum and the schedule. Resuming a
folder without a train state is a clear error. No real data needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from data_helpers import unival_pretraining_tsv
from omnivec.cli import main
from omnivec.config import save_yaml
from omnivec.errors import OmnivecError
from omnivec.families.unival import train as unival_train
from omnivec.families.unival.config import UnivalRunConfig, unival_preset
from omnivec.families.unival.train import pretrain, resume_run
from omnivec.training import checkpoint as ckpt
from omnivec.training.engine import Engine

pytestmark = pytest.mark.slow  # a run stopped and resumed (make test-slow)


class Stop(Exception):
    """Stands in for a kill right after a checkpoint."""


def config(path: Path) -> UnivalRunConfig:
    cfg = unival_preset("tiny", num_bins=16)
    cfg.tsv, cfg.image_size, cfg.stage1_steps = {"pretrain": [str(path)]}, 16, 3
    t = cfg.train
    t.max_steps, t.batch_size, t.checkpoint_every, t.warmup_steps, t.log_every = 6, 2, 2, 2, 1
    t.grad_accum, t.ema_decay = 2, 0.9
    return cfg


def test_stopped_and_resumed_run_is_bit_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the curriculum becomes visible: qa rows join at step 3, after the stop at step 2
    monkeypatch.setattr(unival_train, "STAGE2", ["tsv_pretrain_qa"])
    data = unival_pretraining_tsv(tmp_path / "pretrain.tsv", 6)
    full, stopped = tmp_path / "full", tmp_path / "stopped"
    pretrain(config(data), full, progress=False)

    save = Engine.save_checkpoint

    def save_then_stop(self: Engine) -> None:
        save(self)
        if self.state.step == 2:
            raise Stop

    with monkeypatch.context() as m:
        m.setattr(Engine, "save_checkpoint", save_then_stop)
        with pytest.raises(Stop):
            pretrain(config(data), stopped, progress=False)
    assert int(ckpt.load_state(stopped / ckpt.TRAIN_STATE)["step"]) == 2
    assert not (stopped / "eval.json").exists()
    assert main(["unival", "pretrain", "--out", str(stopped), "--resume", "--quiet"]) == 0

    for name in (ckpt.WEIGHTS, ckpt.EMA_WEIGHTS):
        a, b = ckpt.load_weights(full / name), ckpt.load_weights(stopped / name)
        assert a.keys() == b.keys()
        diff = [k for k in a if not torch.equal(a[k], b[k])]
        assert not diff, f"{name}: {diff[:5]} differ"

    def log(run: Path) -> list[tuple[int, str, float]]:
        return [
            (r["step"], r["tasks"], r["loss"]) for r in map(json.loads, (run / ckpt.METRICS).read_text().splitlines())
        ]

    assert log(stopped) == log(full)
    tasks = [t for _, t, _ in log(full)]
    assert tasks[2] == "tsv_pretrain_caption,tsv_pretrain_grounding"  # step 3: stage 1
    assert tasks[3] == "tsv_pretrain_caption,tsv_pretrain_qa,tsv_pretrain_grounding"  # step 4: stage 2
    assert json.loads((stopped / "eval.json").read_text()) == json.loads((full / "eval.json").read_text())
    assert int(ckpt.load_state(stopped / ckpt.TRAIN_STATE)["step"]) == 6

    with pytest.raises(OmnivecError, match="already holds a run; pass --resume"):
        pretrain(config(data), full, progress=False)


def test_resume_without_a_train_state_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unival", "finetune", "scratch", "--out", str(tmp_path / "none"), "--resume", "--quiet"]) == 2
    assert f"--resume: {tmp_path / 'none'} has no train_state.pt to continue from" in capsys.readouterr().err
    # stopped before its first checkpoint: the folder has a config (and weights) but nothing to continue from
    save_yaml(unival_preset("tiny"), tmp_path / "early" / ckpt.CONFIG)
    with pytest.raises(OmnivecError, match=r"has no train_state\.pt to continue from"):
        resume_run(tmp_path / "early")
