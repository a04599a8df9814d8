"""Model selection during training (training/selection.py): validation every N steps on data held out of the
training split, the best step kept as ``RUN/best`` and scored on the test split, early stopping, and a resume --
after a stop or a crash between the checkpoint and ``best/`` -- that ends as the uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from omnivec.cli import main
from omnivec.config import TrainConfig
from omnivec.data.base import holdout
from omnivec.errors import OmnivecError
from omnivec.training import checkpoint as ckpt
from omnivec.training import engine as engine_module
from omnivec.training.engine import DistInfo
from omnivec.training.runner import Job, StreamSpec, run_job
from omnivec.training.selection import BEST, BEST_INFO, VALIDATION


class Counter(nn.Module):
    """A linear layer and a buffer counting optimizer steps: the buffer travels with the weights, so a score
    read from it is the same in a resumed run as in an uninterrupted one."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1)
        self.register_buffer("t", torch.zeros(()))


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = Counter()

    def forward(self, batches: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        with torch.no_grad():
            self.model.t += 1
        return self.model.lin(batches["a"]).pow(2).mean(), {}


def make(out: Path, scores: dict[int, float], **train: Any) -> Any:
    def job(info: DistInfo) -> Job:
        torch.manual_seed(0)
        toy = Toy()
        if (out / ckpt.WEIGHTS).is_file():  # a resumed run starts from the folder's weights
            toy.model.load_state_dict(ckpt.load_weights(out / ckpt.WEIGHTS))
        data = [(torch.randn(2), 0) for _ in range(6)]
        return Job(
            toy,
            {"a": StreamSpec(data, lambda it: torch.stack([x for x, _ in it]))},
            TrainConfig(batch_size=2, warmup_steps=1, log_every=1, log_formats=[], **train),
            lambda step: ["a"],
            save=lambda d: ckpt.save_weights(toy.model.state_dict(), d / ckpt.WEIGHTS),
            evaluate=lambda engine: {"t": int(toy.model.t)},
            results_file="toy.json",
            validate=lambda: {"score": scores[int(toy.model.t)], "a": scores[int(toy.model.t)]},
        )

    return job


def validations(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["score"]) for r in map(json.loads, (run / VALIDATION).read_text().splitlines())]


def test_the_best_step_is_kept_scored_on_test_and_patience_stops_the_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    scores = {2: 0.1, 4: 0.5, 6: 0.4, 8: 0.3, 10: 0.9, 12: 0.95}
    assert run_job(run, make(run, scores, max_steps=12, eval_every=2, patience=2), seed=0, progress=False) == {"t": 8}
    assert validations(run) == [(2, 0.1), (4, 0.5), (6, 0.4), (8, 0.3)]  # two without gain: stopped at 8
    info = json.loads((run / BEST / BEST_INFO).read_text())
    assert (info["step"], info["score"]) == (4, 0.5)
    assert int(ckpt.load_weights(run / BEST / ckpt.WEIGHTS)["t"]) == 4
    assert json.loads((run / BEST / "toy.json").read_text()) == {"t": 4}  # the best, scored like the last
    assert int(ckpt.load_weights(run / ckpt.WEIGHTS)["t"]) == 8  # the top level stays the resumable last step
    assert not (run / BEST / ckpt.TRAIN_STATE).exists()
    # resumed with more steps, the exhausted patience still holds: nothing more is trained
    assert run_job(run, make(run, scores, max_steps=12, eval_every=2, patience=2), resume=True, progress=False) == {
        "t": 8
    }


def uninterrupted(tmp_path: Path, scores: dict[int, float]) -> Path:
    one = tmp_path / "one"
    run_job(one, make(one, scores, max_steps=10, eval_every=2, checkpoint_every=3), seed=0, progress=False)
    return one


SCORES = {2: 0.1, 4: 0.5, 6: 0.4, 8: 0.6, 10: 0.2}


def same_run(a: Path, b: Path) -> None:
    assert validations(b) == validations(a) == [(2, 0.1), (4, 0.5), (6, 0.4), (8, 0.6), (10, 0.2)]
    assert json.loads((b / BEST / BEST_INFO).read_text()) == json.loads((a / BEST / BEST_INFO).read_text())
    for f in (ckpt.WEIGHTS, f"{BEST}/{ckpt.WEIGHTS}"):
        x, y = ckpt.load_weights(a / f), ckpt.load_weights(b / f)
        assert all(torch.equal(x[k], y[k]) for k in x)


def test_a_run_stopped_and_resumed_selects_as_the_uninterrupted_one(tmp_path: Path) -> None:
    one, staged = uninterrupted(tmp_path, SCORES), tmp_path / "staged"
    cfg = {"max_steps": 10, "eval_every": 2, "checkpoint_every": 3}
    run_job(staged, make(staged, SCORES, **cfg), seed=0, progress=False, stop_at=5)  # no validation at 5
    assert validations(staged) == [(2, 0.1), (4, 0.5)]
    run_job(staged, make(staged, SCORES, **cfg), resume=True, progress=False)
    same_run(one, staged)


def test_a_crash_between_the_checkpoint_and_the_best_folder_is_repaired_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, crashed = uninterrupted(tmp_path, SCORES), tmp_path / "crashed"
    write_best = engine_module.write_best

    def crash_at_8(run_dir: Path, step: int, scores: dict[str, float]) -> Path:
        if step == 8:
            raise KeyboardInterrupt  # the checkpoint of step 8 (the new best) is written, best/ is not
        return write_best(run_dir, step, scores)

    cfg = {"max_steps": 10, "eval_every": 2, "checkpoint_every": 3}
    with monkeypatch.context() as m:
        m.setattr(engine_module, "write_best", crash_at_8)
        with pytest.raises(KeyboardInterrupt):
            run_job(crashed, make(crashed, SCORES, **cfg), seed=0, progress=False)
    assert json.loads((crashed / BEST / BEST_INFO).read_text())["step"] == 4
    run_job(crashed, make(crashed, SCORES, **cfg), resume=True, progress=False)
    same_run(one, crashed)


def test_a_command_without_a_validation_metric_refuses_eval_every(tmp_path: Path) -> None:
    run = tmp_path / "run"

    def no_validation(info: DistInfo) -> Job:
        job: Job = make(run, {}, max_steps=2, eval_every=1)(info)
        job.validate = None
        return job

    with pytest.raises(OmnivecError, match="no validation metric"):
        run_job(run, no_validation, seed=0, progress=False)
    assert not run.exists()


def test_the_validation_split_is_held_out_of_training_and_fixed_by_the_seed() -> None:
    data = list(range(50))
    train, val = holdout(data, 0.1, seed=3, name="t")
    kept, held = [train[i] for i in range(len(train))], [val[i] for i in range(len(val))]  # type: ignore[arg-type]
    assert len(held) == 5 and sorted(kept + held) == data and not set(kept) & set(held)
    again = holdout(data, 0.1, seed=3, name="t")[1]
    assert [again[i] for i in range(5)] == held  # type: ignore[index]
    assert [holdout(data, 0.1, seed=4, name="t")[1][i] for i in range(5)] != held  # type: ignore[index]
    with pytest.raises(OmnivecError, match="at least 2"):
        holdout([0], 0.5, seed=0, name="one")


def test_train_eval_every_keeps_a_loadable_best_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    flags = ["--preset", "tiny", "--num-train", "40", "--num-test", "16", "--quiet"]
    assert (
        main(["train", "--tasks", "shapes,topics", *flags, "--steps", "6", "--eval-every", "3", "--out", str(run)]) == 0
    )
    assert "best checkpoint" in capsys.readouterr().out
    assert [s for s, _ in validations(run)] == [3, 6]
    best = json.loads((run / BEST / BEST_INFO).read_text())
    assert best["step"] in (3, 6) and set(best) >= {"score", "shapes", "topics"}
    tested = json.loads((run / BEST / "eval.json").read_text())
    assert main(["evaluate", str(run / BEST), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert {k: r["value"] for k, r in again.items()} == pytest.approx({k: r["value"] for k, r in tested.items()})
    with pytest.raises(SystemExit):
        main(["train", "--tasks", "shapes", "--val-fraction", "1", "--out", str(tmp_path / "x")])


def test_unival_keeps_its_best_step_too(tmp_path: Path) -> None:
    from data_helpers import unival_pretraining_tsv

    tsv, run = unival_pretraining_tsv(tmp_path / "pretrain.tsv", 12), tmp_path / "u"
    argv = ["unival", "pretrain", "--tsv", f"pretrain={tsv}", "--steps", "4", "--num-bins", "16", "--eval-every", "2"]
    assert (
        main([*argv, "--image-size", "16", "--batch-size", "2", "--eval-limit", "2", "--quiet", "--out", str(run)]) == 0
    )
    assert [s for s, _ in validations(run)] == [2, 4]
    assert (run / BEST / "eval.json").is_file() and (run / BEST / ckpt.CONFIG).is_file()
    assert main(["evaluate", str(run / BEST), "--limit", "2"]) == 0
