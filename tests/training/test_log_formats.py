"""Every training command writes logs users' tools open beside ``metrics.jsonl``: TensorBoard event files under
``tensorboard/`` and ``metrics.csv``, for both families; a resumed run shows each step once in both (as in the
JSONL); ``--log-formats none`` writes neither."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from omnivec.cli import main
from omnivec.training import checkpoint as ckpt
from omnivec.training.logs import CSV, TENSORBOARD_DIR

TRAIN = ["train", "--tasks", "shapes,topics", "--preset", "tiny", "--num-train", "16", "--num-test", "8"]
TRAIN += ["--batch-size", "4", "--set", "train.log_every=1", "--quiet"]


def jsonl(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / ckpt.METRICS).read_text().splitlines()]


def csv_rows(run: Path) -> list[dict[str, str]]:
    with open(run / CSV, newline="") as f:
        return list(csv.DictReader(f))


def scalars(run: Path, tag: str) -> dict[int, float]:
    """What TensorBoard shows for ``tag``: step -> value (events a resume purged are not shown)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / TENSORBOARD_DIR))
    acc.Reload()
    events = acc.Scalars(tag)
    assert len({e.step for e in events}) == len(events), f"a step shown twice: {[e.step for e in events]}"
    return {e.step: e.value for e in events}


def losses(records: list[dict]) -> dict[int, float]:
    return {r["step"]: pytest.approx(r["loss"]) for r in records}


def test_a_run_writes_csv_and_tensorboard_with_every_logged_step(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main([*TRAIN, "--steps", "4", "--out", str(run)]) == 0
    records = jsonl(run)
    rows = csv_rows(run)
    assert [int(r["step"]) for r in rows] == [r["step"] for r in records] == [1, 2, 3, 4]
    assert {"loss", "lr", "shapes/loss", "topics/loss"} <= rows[0].keys()
    assert [float(r["loss"]) for r in rows] == pytest.approx([r["loss"] for r in records])
    assert scalars(run, "loss") == losses(records)
    assert list(scalars(run, "shapes/loss")) == [1, 2, 3, 4]


def test_a_run_resumed_after_a_crash_shows_each_step_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted after logging step 3 with its last checkpoint at step 2: the resumed run logs steps 3-5 again,
    and TensorBoard hides the first attempt's step 3 (purge_step), as the JSONL is truncated to step 2."""
    from omnivec.training.engine import Engine

    log = Engine._log

    def crash_after_step_3(self: Engine, rec: dict) -> None:
        log(self, rec)
        if rec["step"] == 3:
            raise KeyboardInterrupt

    run = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(Engine, "_log", crash_after_step_3)
        assert main([*TRAIN, "--steps", "5", "--checkpoint-every", "2", "--out", str(run)]) == 130
    first = scalars(run, "loss")
    assert list(first) == [1, 2, 3]
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 0
    records = jsonl(run)
    assert [int(r["step"]) for r in csv_rows(run)] == [r["step"] for r in records] == [1, 2, 3, 4, 5]
    assert scalars(run, "loss") == losses(records)


def test_log_formats_none_writes_only_the_jsonl(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main([*TRAIN, "--steps", "2", "--log-formats", "none", "--out", str(run)]) == 0
    assert (run / ckpt.METRICS).is_file()
    assert not (run / CSV).exists() and not (run / TENSORBOARD_DIR).exists()


def test_an_unknown_log_format_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*TRAIN, "--log-formats", "wandb", "--out", str(tmp_path / "run")])
    assert "unknown wandb" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_unival_runs_write_them_too(tmp_path: Path) -> None:
    from data_helpers import unival_pretraining_tsv

    tsv = unival_pretraining_tsv(tmp_path / "pretrain.tsv", 8)
    run = tmp_path / "run"
    argv = ["unival", "pretrain", "--tsv", f"pretrain={tsv}", "--steps", "2", "--num-bins", "16"]
    argv += ["--image-size", "16", "--batch-size", "2", "--eval-limit", "2", "--quiet", "--out", str(run)]
    assert main(argv) == 0
    steps = [r["step"] for r in jsonl(run)]
    assert [int(r["step"]) for r in csv_rows(run)] == steps
    assert list(scalars(run, "loss")) == steps
