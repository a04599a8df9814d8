"""``task_batch`` gives named tasks their own samples per step: the log counts them, the run folder keeps the
setting, and a misspelt task name is an error rather than a setting that silently does nothing. No real data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_helpers import unival_pretraining_tsv
from omnivec.errors import OmnivecError
from omnivec.families.unival.config import UnivalRunConfig, unival_preset
from omnivec.families.unival.model import load_unival
from omnivec.families.unival.train import pretrain


def config(path: Path, task_batch: dict[str, int]) -> UnivalRunConfig:
    cfg = unival_preset("tiny", num_bins=16)
    cfg.tsv, cfg.image_size, cfg.task_batch = {"pretrain": [str(path)]}, 16, task_batch
    t = cfg.train
    t.max_steps, t.batch_size, t.warmup_steps, t.log_every, t.checkpoint_every = 2, 2, 1, 1, 0
    return cfg


def test_a_task_batch_sets_that_task_s_samples_per_step(tmp_path: Path) -> None:
    data = unival_pretraining_tsv(tmp_path / "pretrain.tsv", 8)
    pretrain(config(data, {"tsv_pretrain_grounding": 5}), tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "samples" in r and "step" in r]
    tasks = steps[-1]["tasks"].split(",")
    assert "tsv_pretrain_grounding" in tasks and len(tasks) == 3
    # 5 grounding rows + 2 of each other task per step
    assert [r["samples"] for r in steps] == [(5 + 2 * (len(tasks) - 1)) * r["step"] for r in steps]
    _, cfg = load_unival(tmp_path / "run")
    assert cfg.task_batch == {"tsv_pretrain_grounding": 5}


def test_a_misspelt_task_in_task_batch_is_an_error(tmp_path: Path) -> None:
    data = unival_pretraining_tsv(tmp_path / "pretrain.tsv", 4)
    with pytest.raises(OmnivecError, match="task_batch: unknown task 'grounding_imag'"):
        pretrain(config(data, {"grounding_imag": 32}), tmp_path / "run", progress=False)


def test_the_cli_flag_reaches_the_run_folder(tmp_path: Path) -> None:
    from omnivec.cli import main

    data = unival_pretraining_tsv(tmp_path / "pretrain.tsv", 4)
    out = tmp_path / "cli"
    args = ["unival", "pretrain", "--out", str(out), "--tsv", f"pretrain={data}", "--num-bins", "16"]
    args += ["--image-size", "16", "--steps", "1", "--batch-size", "2", "--quiet"]
    assert main([*args, "--task-batch", "tsv_pretrain_grounding=3"]) == 0
    assert load_unival(out)[1].task_batch == {"tsv_pretrain_grounding": 3}
    with pytest.raises(SystemExit):  # argparse names the bad value
        main([*args, "--task-batch", "tsv_pretrain_grounding=0"])


def test_the_full_reproduce_budget_gives_the_binding_tasks_their_batch() -> None:
    from omnivec.experiments.unival_reproduce import BINDING_TASKS, BUDGETS, _cfg

    full = _cfg(dict(BUDGETS["full"]), 10, "", 0)
    assert full.task_batch == {t: BUDGETS["full"]["binding_batch"] for t in BINDING_TASKS}
    assert full.task_batch["grounding_image"] > full.train.batch_size
    assert _cfg(dict(BUDGETS["medium"]), 10, "", 0).task_batch == {}
