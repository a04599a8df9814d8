"""The run skeleton on its own, with a toy objective: the folder check, the initial loadable save, results
written atomically, samples skipped in the last unfinished epoch reported for every stream, resume, and the
device argument."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from omnivec.config import TrainConfig
from omnivec.data.base import Skipped
from omnivec.errors import OmnivecError
from omnivec.training import checkpoint as ckpt
from omnivec.training.engine import DistInfo, Engine, rank_device
from omnivec.training.runner import Job, StreamSpec, run_job


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Linear(2, 1)

    def forward(self, batches: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        loss = sum((self.model(x).pow(2).mean() for x in batches.values()), torch.zeros(()))
        return loss, {}


def items(n: int, bad: set[int]) -> Any:  # a list serves as the dataset
    return [(Skipped(f"f{i}.png", "broken") if i in bad else torch.full((2,), float(i)), 0) for i in range(n)]


def build(saved: list[Path]) -> Any:
    def make(info: DistInfo) -> Job:
        torch.manual_seed(0)
        return Job(
            Toy(),
            {  # one batch of 3 per epoch: step 2 ends epoch 0 and takes epoch 1, which never ends
                "a": StreamSpec(items(3, {1}), lambda it: torch.stack([x for x, _ in it])),
                "b": StreamSpec(items(3, {0, 2}), lambda it: torch.stack([x for x, _ in it])),
            },
            TrainConfig(max_steps=2, batch_size=3, warmup_steps=1, log_every=1),
            lambda step: ["a", "b"],
            save=lambda d: saved.append(d),
            evaluate=lambda engine: {"steps": engine.state.step},
            title="toy",
            results_file="toy.json",
        )

    return make


def test_fresh_run_reports_the_unfinished_epoch_of_every_stream(tmp_path: Path) -> None:
    out, saved = tmp_path / "run", list[Path]()
    results = run_job(out, build(saved), seed=0, progress=False, device="cpu")
    assert results == {"steps": 2} == json.loads((out / "toy.json").read_text())
    # the step-0 checkpoint, then the final one, each filled in a temporary folder renamed into checkpoints/
    assert [p.name for p in saved] == [".ckpt-000000.tmp", ".ckpt-000002.tmp"]
    assert [p.name for _, p in ckpt.checkpoint_dirs(out)] == ["ckpt-000000", "ckpt-000002"]
    assert (out / "loss.png").is_file() and (out / ckpt.TRAIN_STATE).is_file()
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    # each unreadable file once, when it is first met (epoch 0); epoch 1 meets the same files again
    assert sorted((r["stream"], r["epoch"], r["path"]) for r in skipped) == [("a", 0, "f1.png")] + [
        ("b", 0, p) for p in ("f0.png", "f2.png")
    ]
    assert all(r["reason"] == "broken" for r in skipped)
    with pytest.raises(OmnivecError, match="already holds a run"):
        run_job(out, build([]), progress=False)


def test_resume_continues_from_the_train_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    with pytest.raises(OmnivecError, match=r"has no train_state\.pt"):
        run_job(out, build([]), resume=True, progress=False)
    assert not out.exists()
    run_job(out, build([]), seed=0, progress=False)
    loaded: list[int] = []
    orig = Engine.load_checkpoint

    def load(self: Engine, state: dict[str, Any]) -> None:
        orig(self, state)
        loaded.append(self.state.step)

    monkeypatch.setattr(Engine, "load_checkpoint", load)
    saved: list[Path] = []
    assert run_job(out, build(saved), resume=True, progress=False) == {"steps": 2}
    assert loaded == [2] and saved == []  # resumed at its end: its step-2 checkpoint is already on disk


def test_a_run_stopped_early_resumes_into_the_uninterrupted_run(tmp_path: Path) -> None:
    """``stop_at``: a checkpoint at that step under the full schedule; resuming it logs what one run logs."""

    def make(out: Path) -> Any:
        def job(info: DistInfo) -> Job:
            j = build([])(info)
            if (out / "toy.pt").is_file():  # a resumed run starts from the folder's weights
                j.objective.model.load_state_dict(torch.load(out / "toy.pt"))  # type: ignore[operator]
            j.save = lambda d: torch.save(j.objective.model.state_dict(), d / "toy.pt")  # type: ignore[operator]
            return j

        return job

    one, staged = tmp_path / "one", tmp_path / "staged"
    run_job(one, make(one), seed=0, progress=False)
    assert run_job(staged, make(staged), seed=0, progress=False, stop_at=1) == {"steps": 1}
    assert run_job(staged, make(staged), resume=True, progress=False) == {"steps": 2}
    log = [json.loads(line) for line in (one / ckpt.METRICS).read_text().splitlines()]
    again = [json.loads(line) for line in (staged / ckpt.METRICS).read_text().splitlines()]
    assert len(log) == 2 and [(r["step"], r["lr"], r["loss"]) for r in again] == [
        (r["step"], r["lr"], r["loss"]) for r in log
    ]


@pytest.mark.device
def test_device_argument(tmp_path: Path) -> None:
    """``auto`` or a device string (checked by :func:`omnivec.training.device.resolve_device`); an index-less CUDA
    device becomes the rank's own GPU."""
    assert rank_device("cpu", local_rank=1) == torch.device("cpu")
    assert rank_device("auto", local_rank=1) == torch.device("cuda:1" if torch.cuda.is_available() else "cpu")
    with pytest.raises(OmnivecError, match="not a device"):
        rank_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(OmnivecError, match="no CUDA device"):
            run_job(tmp_path / "run", build([]), device="cuda", progress=False)
        assert not (tmp_path / "run").exists()
