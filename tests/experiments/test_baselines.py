"""The reference specialists (omnivec.experiments.baselines), the seconds budget of the engine, and the side-by-side
benchmark that puts them beside omnivec."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from omnivec.api.train import prepare_tasks, train
from omnivec.config import TaskConfig, preset
from omnivec.experiments.baselines import Budget, build_network, featurizer, train_baseline
from omnivec.training import checkpoint as ckpt

CASES = {
    "image": (TaskConfig("t", "classification", "image", num_classes=4), [torch.rand(1, 28, 28) for _ in range(3)]),
    "video": (TaskConfig("t", "classification", "video", num_classes=4), [torch.rand(3, 8, 32, 32) for _ in range(3)]),
    "audio": (TaskConfig("t", "classification", "audio", num_classes=4), [torch.randn(n) for n in (4000, 6000, 5000)]),
    "points": (TaskConfig("t", "classification", "points", num_classes=4), [torch.randn(256, 3) for _ in range(3)]),
    "seg": (TaskConfig("t", "segmentation", "image", num_classes=5), [torch.rand(1, 32, 32) for _ in range(3)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_baseline_network_gives_the_task_shape(case: str) -> None:
    task, samples = CASES[case]
    x = featurizer(task.modality)(samples)
    name, net = build_network(task, x)
    out = net(*x)
    if task.kind == "segmentation":
        assert name == "U-Net" and out.shape == (3, 5, 32, 32)
    else:
        assert out.shape == (3, 4)
    out.float().square().mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def _generated(names: list[str], num_train: int = 160, num_test: int = 80):  # type: ignore[no-untyped-def]
    cfg = preset("tiny")
    cfg.num_train, cfg.num_test = num_train, num_test
    cfg.tasks = names
    return cfg, prepare_tasks(cfg, names)


@pytest.mark.slow
def test_the_image_baseline_learns_and_the_text_baseline_fits() -> None:
    _, tasks = _generated(["shapes", "topics"])
    p = tasks["shapes"]
    r = train_baseline(p.cfg, p.splits.train, p.splits.test, Budget(steps=80, batch_size=16, lr=6e-3))
    assert r["baseline"] == "CNN" and r["steps"] == 80
    assert r["value"] >= 0.5, f"the CNN learned nothing on shapes (chance 0.25): {r['value']:.3f}"
    p = tasks["topics"]
    r = train_baseline(p.cfg, p.splits.train, p.splits.test, Budget())
    assert r["baseline"] == "TF-IDF + linear SVM" and r["value"] >= 0.6


def test_a_seconds_budget_stops_the_baseline_on_time() -> None:
    _, tasks = _generated(["shapes"])
    p = tasks["shapes"]
    t0 = time.perf_counter()
    r = train_baseline(p.cfg, p.splits.train, p.splits.test, Budget(steps=10**9, batch_size=8, seconds=1.0))
    assert 1.0 <= r["seconds"] < 5.0 and r["steps"] > 0  # stops within a step or two of the budget, even loaded
    assert time.perf_counter() - t0 < 20


def test_the_engine_seconds_budget_stops_and_decays_the_learning_rate(tmp_path: Path) -> None:
    cfg, _ = _generated(["shapes"], 64, 16)
    cfg.train.max_steps, cfg.train.max_seconds, cfg.train.warmup_steps, cfg.train.log_every = 10**6, 3.0, 1, 1
    t0 = time.perf_counter()
    train(cfg, tmp_path / "run", progress=False)
    assert time.perf_counter() - t0 < 60
    log = [json.loads(x) for x in (tmp_path / "run" / ckpt.METRICS).read_text().splitlines() if x.strip()]
    steps = [r for r in log if "loss" in r]
    assert 2 <= len(steps) < 10**6  # a loaded machine fits few steps in 3 s; the budget, not max_steps, stopped it
    assert steps[-1]["lr"] < 0.25 * cfg.train.lr, "the schedule did not decay over the seconds budget"


def test_side_by_side_rows_and_the_results_section(tmp_path: Path) -> None:
    from omnivec.experiments.benchmark import BenchBudget, side_by_side, table
    from omnivec.experiments.reproduce import write_section

    cfg, tasks = _generated(["shapes", "topics"], 64, 32)
    rows = side_by_side(cfg, tmp_path, BenchBudget(steps=4, batch_size=8), tasks=tasks)
    assert [r["task"] for r in rows] == ["shapes", "topics"]
    for r in rows:
        assert r["omnivec_steps"] == 4 and 0 <= r["omnivec"] <= 1 and 0 <= r["baseline_value"] <= 1
        assert r["ratio"] == pytest.approx(r["omnivec"] / r["baseline_value"], abs=1e-3)
    md = table(rows, {"shapes": 2.0})
    assert "**missed**" in md and "TF-IDF" in md
    page = tmp_path / "results.md"
    page.write_text("# results\n\nhand-kept text\n")
    write_section(page, "## table v1", "full-budget")
    write_section(page, "## table v2", "full-budget")
    text = page.read_text()
    assert "hand-kept text" in text and "v2" in text and "v1" not in text


def test_reproduce_baselines_command_writes_its_table(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from omnivec.cli import main

    monkeypatch.delenv("OMNIVEC_DATA", raising=False)
    out = tmp_path / "bl"
    argv = ["reproduce", "baselines", "--tasks", "shapes,topics", "--steps", "3", "--batch-size", "4"]
    argv += ["--train-limit", "32", "--test-limit", "16", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    rows = json.loads((out / "baselines.json").read_text())["rows"]
    assert [r["task"] for r in rows] == ["shapes", "topics"] and rows[0]["train"] == 32
    assert "| shapes |" in (out / "baselines.md").read_text() and "TF-IDF" in capsys.readouterr().out


def test_the_full_budget_is_in_steps_and_keeps_omnivecs_best_step(tmp_path: Path) -> None:
    """Machines of different speed run the same steps (seconds do not stop the run), and the row reports the step
    the validation split chose, scored on the test split, beside the last step's score."""
    from omnivec.experiments.benchmark import BenchBudget, side_by_side
    from omnivec.experiments.full_budget import FULL_BUDGET, full_budget_config

    for name, (steps, every) in FULL_BUDGET.items():
        cfg = full_budget_config(name, "", 0, steps, every)
        assert (cfg.train.max_steps, cfg.train.max_seconds, cfg.train.eval_every) == (steps, 0.0, every)
    cfg = preset("tiny")
    cfg.tasks, cfg.num_train, cfg.num_test = ["shapes"], 40, 16
    cfg.train.eval_every, cfg.train.warmup_steps = 2, 1
    (row,) = side_by_side(cfg, tmp_path, BenchBudget(steps=4, batch_size=8))
    best = json.loads((tmp_path / "omnivec" / "best" / "best.json").read_text())
    tested = json.loads((tmp_path / "omnivec" / "best" / "eval.json").read_text())
    last = json.loads((tmp_path / "omnivec" / "eval.json").read_text())
    assert row["selected_step"] == best["step"] and row["omnivec"] == round(tested["shapes"]["value"], 4)
    assert row["omnivec_last"] == round(last["shapes"]["value"], 4) and row["train"] == 36  # 4 of 40 held out


def test_the_full_budget_page_is_rendered_from_committed_rows_and_lists_the_pending(tmp_path: Path) -> None:
    from omnivec.experiments.full_budget import full_budget_config, part_config, reproduce_full_budget
    from omnivec.experiments.ledger import Ledger, config_hash

    cfg = full_budget_config("banking77", "", 0, 1500, 100)
    row = {"task": "banking77", "metric": "accuracy", "train": 9003, "test": 3080, "omnivec": 0.9012}
    row |= {"omnivec_seconds": 900.0, "baseline": "TF-IDF + linear SVM", "baseline_value": 0.8877}
    row |= {"baseline_seconds": 1.0, "ratio": 1.015, "selected_step": 1400, "omnivec_last": 0.9}
    record = {"part": "banking77", "config_hash": config_hash(part_config(cfg)), "config": part_config(cfg)}
    Ledger(tmp_path / "ledger" / "seed-0").write(
        record | {"scores": row, "wall_s": 960.0, "threads": 1, "matmul_gflops": 70.0}
    )
    Ledger(tmp_path / "ledger" / "seed-0").write(
        {
            "part": "fsdd",
            "config_hash": "stale",
            "config": {},
            "scores": {},
            "wall_s": 1.0,
            "threads": 1,
            "matmul_gflops": 1,
        }
    )
    page = tmp_path / "results.md"
    page.write_text("<!-- full-budget:start -->\n<!-- full-budget:end -->\n")
    rows = reproduce_full_budget(tmp_path / "out", None, "", 0, page, ledger=tmp_path / "ledger", render=True)
    text = page.read_text()
    assert [r["task"] for r in rows] == ["banking77"] and "**0.9012** (step 1400)" in text
    assert "Pending (no committed part yet): mnist, fashion-mnist, fsdd." in text  # a stale record is not a row
    page.write_text("<!-- full-budget:start -->\n<!-- full-budget:end -->\n")
    reproduce_full_budget(tmp_path / "out", ["fsdd"], "", 0, page, ledger=tmp_path / "ledger", render=True)
    assert "**0.9012** (step 1400)" in page.read_text()  # a run of some datasets keeps the ledger's other rows


def test_a_row_just_trained_is_on_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Training fills its config (tasks, heads): the row is still found under the hash of the plan it recorded."""
    from omnivec.config import TaskConfig
    from omnivec.experiments import full_budget

    def fake_side_by_side(cfg, run, budget, progress):  # type: ignore[no-untyped-def]
        cfg.model.tasks.append(TaskConfig("banking77", "classification", "text", num_classes=77))  # as train does
        return [{"task": "banking77", "metric": "accuracy", "train": 9, "test": 3, "omnivec": 0.9, "omnivec_seconds": 1}
                | {"baseline": "b", "baseline_value": 0.8, "baseline_seconds": 1, "ratio": 1.1}]  # fmt: skip

    monkeypatch.setattr(full_budget, "side_by_side", fake_side_by_side)
    monkeypatch.setattr("omnivec.data.real_tasks.present_tasks", lambda root: {"banking77": True})
    page = tmp_path / "results.md"
    page.write_text("<!-- full-budget:start -->\n<!-- full-budget:end -->\n")
    full_budget.reproduce_full_budget(tmp_path / "out", ["banking77"], "", 0, page, ledger=tmp_path / "ledger")
    text = page.read_text()
    assert "| banking77 |" in text and "Pending (no committed part yet): mnist, fashion-mnist, fsdd." in text


def test_a_config_field_added_later_does_not_void_the_committed_rows() -> None:
    """A field added to the model config after rows were committed is left out of a plan at its neutral value
    (the committed FSDD row keeps its hash), and is in the plan of a row that sets it."""
    from omnivec.config import apply_override
    from omnivec.experiments.full_budget import full_budget_config, part_config
    from omnivec.experiments.ledger import config_hash

    committed = Path(__file__).parents[2] / "results" / "full-budget" / "seed-0" / "fsdd.json"
    if not committed.is_file():
        pytest.skip("the committed FSDD row is not in this checkout")
    cfg = full_budget_config("fsdd", "", 0, 800, 100)
    assert config_hash(part_config(cfg)) == json.loads(committed.read_text())["config_hash"]
    smoothed = part_config(apply_override(cfg, "model.label_smoothing=0.1"))
    assert smoothed["model"]["label_smoothing"] == 0.1 and "label_smoothing" not in part_config(cfg)["model"]
