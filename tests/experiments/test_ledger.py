"""The ledger of committed part results (``results/``): a recorded part is skipped, a lost artifact is re-created
and its losses checked, the label-scarce table renders from records alone, and a changed config is mismatched.
Fake parts stand in for training except in the last test, which re-creates a real tiny pretraining run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnivec.cli import main
from omnivec.errors import OmnivecError
from omnivec.experiments.label_scarce import plan_seed, seed_ledger
from omnivec.experiments.ledger import Ledger, check_losses, config_hash, loss_trajectory
from omnivec.experiments.parts import Part, Parts
from omnivec.experiments.reproduce import reproduce_scarce
from omnivec.experiments.scarce_budget import SCARCE_BUDGETS, ScarceBudget


def _forbidden(folder: Path) -> dict[str, float]:
    raise AssertionError(f"a recorded part ran again into {folder}")


def _pretrain(losses: list[float], calls: list[str]):
    """A fake pretraining run: logs ``losses`` at steps 10, 20, ... and leaves a checkpoint file."""

    def fn(folder: Path) -> dict[str, float]:
        calls.append(folder.name)
        folder.mkdir(parents=True)
        (folder / "metrics.jsonl").write_text(
            "".join(json.dumps({"step": 10 * (i + 1), "loss": v}) + "\n" for i, v in enumerate(losses))
        )
        (folder / "weights").write_text("w")
        return {"loss": losses[-1]}

    return fn


def _finetune(start: Part, score: float, calls: list[str]):
    def fn(folder: Path) -> dict[str, float]:
        assert (folder.parent / start.name / "weights").is_file(), "the start's folder must be there"
        calls.append(folder.name)
        return {"acc": score}

    return Part(f"row-{score}", fn, {"start": start.ref(), "score": score}, (start,))


def test_config_hash_is_short_stable_and_order_free() -> None:
    h = config_hash({"steps": 3, "tasks": ["a", "b"]})
    assert len(h) == 12 and h == config_hash({"tasks": ["a", "b"], "steps": 3})
    assert h != config_hash({"steps": 4, "tasks": ["a", "b"]})


def test_a_recorded_part_is_skipped_in_a_new_session(tmp_path) -> None:
    ledger = Ledger(tmp_path / "results")
    calls: list[str] = []
    pt = Part("pt", _pretrain([2.0, 1.5], calls), {"steps": 20})
    rec = Parts(tmp_path / "session-1", print, ledger=ledger, about={"seed": 3, "budget": "tiny"}).run(pt)
    assert calls == ["pt"]
    saved = json.loads(ledger.path("pt").read_text())
    assert saved == rec and saved["scores"] == {"loss": 1.5} and saved["seed"] == 3 and saved["budget"] == "tiny"
    assert saved["config_hash"] == pt.hash and saved["losses"] == [[10, 2.0], [20, 1.5]]
    for key in ("wall_s", "commit", "torch", "threads", "matmul_gflops", "cpu", "date"):
        assert key in saved, key
    assert saved["matmul_gflops"] > 0
    # a new session (an empty work folder): the ledger's record is the result, nothing runs
    again = Parts(tmp_path / "session-2", print, ledger=ledger).run(Part("pt", _forbidden, {"steps": 20}))
    assert again == saved


def test_without_a_ledger_the_work_folder_resumes(tmp_path) -> None:
    """``reproduce-unival``'s use: records in the work folder only, a finished part is not run twice."""
    calls: list[str] = []
    Parts(tmp_path, print).run(Part("pt", _pretrain([2.0], calls)))
    assert Parts(tmp_path, print).run(Part("pt", _forbidden))["scores"] == {"loss": 2.0} and calls == ["pt"]


def test_a_changed_config_runs_again_and_replaces_the_record(tmp_path) -> None:
    ledger, calls = Ledger(tmp_path / "results"), []
    Parts(tmp_path / "s1", print, ledger=ledger).run(Part("pt", _pretrain([2.0], calls), {"steps": 10}))
    changed = Part("pt", _pretrain([1.0], calls), {"steps": 11})
    assert ledger.find("pt", changed.hash) is None  # mismatched: same name, another config
    Parts(tmp_path / "s2", print, ledger=ledger).run(changed)
    assert calls == ["pt", "pt"] and ledger.find("pt", changed.hash)["scores"] == {"loss": 1.0}


def test_a_missing_artifact_is_recreated_and_its_losses_checked(tmp_path) -> None:
    ledger, calls, logs = Ledger(tmp_path / "results"), [], []
    pt = Part("pt", _pretrain([2.0, 1.5], calls), {"steps": 20})
    Parts(tmp_path / "s1", logs.append, ledger=ledger).run(_finetune(pt, 0.5, calls))
    assert calls == ["pt", "row-0.5"]
    recorded = ledger.path("pt").read_text()
    # session 2 has no pt folder: a new row needs it, so pt is re-created (the same losses) and the row runs
    calls.clear()
    Parts(tmp_path / "s2", logs.append, ledger=ledger).run(_finetune(pt, 0.7, calls))
    assert calls == ["pt", "row-0.7"] and "re-created" in logs[-2] and "losses match" in logs[-2]
    assert ledger.path("pt").read_text() == recorded  # the record is not rewritten
    assert (tmp_path / "s2" / "parts" / "pt.json").is_file()  # the work folder knows the folder is there now
    # within the tolerance (float32 sums in another order) passes
    near = Part("pt", _pretrain([2.0 * (1 + 1e-5), 1.5], calls), {"steps": 20})
    Parts(tmp_path / "s3", logs.append, ledger=ledger).run(_finetune(near, 0.8, calls))
    # a re-creation that logs other losses is refused, naming the part and both values; the row does not run
    drifted = Part("pt", _pretrain([2.0, 1.6], calls), {"steps": 20})
    calls.clear()
    with pytest.raises(OmnivecError, match=r"'pt'.*step 20: 1\.6 now, 1\.5 in the ledger"):
        Parts(tmp_path / "s4", logs.append, ledger=ledger).run(_finetune(drifted, 0.9, calls))
    assert calls == ["pt"]


def test_loss_trajectory_is_short_and_keeps_the_last_step(tmp_path) -> None:
    (tmp_path / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 1 / s}) + "\n" for s in range(1, 101))
    )
    traj = loss_trajectory(tmp_path, points=5)
    assert [s for s, _ in traj] == [1, 26, 51, 75, 100] and traj[-1][1] == pytest.approx(0.01)
    check_losses("x", traj, [[51, 1 / 51], [100, 0.01]])  # only shared steps are compared
    with pytest.raises(OmnivecError, match="shares no step"):
        check_losses("x", traj, [[7, 1.0]])


TASKS = ("tones", "scenes")


def _write(ledger: Path, seed: int, row: str, values: tuple[float, float], config_hash: str | None = None) -> None:
    """A fixture record of the tiny budget's ``row`` at 50 % of the labels, as a finished part leaves it."""
    budget = SCARCE_BUDGETS["tiny"]
    plan = plan_seed(ledger, budget, ",".join(TASKS), seed, [0.5], "", need_data=False)
    for part in plan.rows["50"][row]:
        scores = {t: {"value": v, "metric": "accuracy", "chance": 0.25} for t, v in zip(TASKS, values)}
        record = {"part": part.name, "config_hash": config_hash or part.hash, "scores": scores, "wall_s": 60.0}
        seed_ledger(ledger, budget, plan).write(record | {"seed": seed, "threads": 2, "matmul_gflops": 50.0})


def test_render_builds_the_table_from_committed_parts_alone(tmp_path) -> None:
    ledger, page, logs = tmp_path / "results", tmp_path / "results.md", []
    _write(ledger, 0, "b", (0.5, 0.7))
    _write(ledger, 1, "b", (0.7, 0.9))
    _write(ledger, 0, "c", (0.9, 0.9))
    _write(ledger, 1, "c", (0.1, 0.1), config_hash="0123456789ab")  # made by an older protocol: not used
    r = reproduce_scarce(
        tmp_path / "runs", "tiny", "tones,scenes", 0, 2, [50.0], ["b", "c"], page, "", logs.append, ledger, render=True
    )
    text = page.read_text()
    assert "| (b) unified, random start | 2 | 0.600 ± 0.141 | 0.800 ± 0.141 | 0.700 ± 0.141 |" in text
    assert "| (c) unified, pretrained, grouped, mixed | 1 | 0.900 ± 0.000 | 0.900 ± 0.000 | 0.900 ± 0.000 |" in text
    assert "| 50 % | (c) >= (b) | +0.300 (one seed) |" in text  # paired on seed 0, the one seed with both rows
    assert "(d) = (c)" not in text  # not recorded, not shown
    assert r["missing"] == ["seed 1, 50 % labels: rows c"] and "- seed 1, 50 % labels: rows c" in text
    assert len(r["mismatched"]) == 1 and "seed 1: labels-50/c (recorded for config 0123456789ab" in r["mismatched"][0]
    assert "Wall time per seed on 2 CPU threads, fp32 matmul 50 GFLOP/s" in text
    assert not (tmp_path / "runs").exists()  # nothing trained
    # --strict refuses the incomplete table and lists what is missing
    assert main(["reproduce", "omnivec-label-scarce", "--budget", "tiny", "--suite", "tones,scenes", "--seeds", "2",
                 "--labels", "50", "--rows", "b,c", "--ledger", str(ledger), "--results", str(page),
                 "--render", "--strict"]) == 2  # fmt: skip
    with pytest.raises(OmnivecError, match=r"missing: seed 1, 50 % labels: rows c(.|\n)*mismatched: seed 1"):
        reproduce_scarce(tmp_path / "runs", "tiny", "tones,scenes", 0, 2, [50.0], ["b", "c"], page, "",
                         logs.append, ledger, render=True, strict=True)  # fmt: skip
    _write(ledger, 1, "c", (0.5, 0.5))  # the missing part arrives: the table is complete
    r = reproduce_scarce(tmp_path / "runs", "tiny", "tones,scenes", 0, 2, [50.0], ["b", "c"], page, "",
                         logs.append, ledger, render=True, strict=True)  # fmt: skip
    assert (
        r["missing"] == [] == r["mismatched"] and "| (c) unified, pretrained, grouped, mixed | 2 |" in page.read_text()
    )


def test_a_changed_budget_marks_every_part_mismatched(tmp_path) -> None:
    ledger = tmp_path / "results"
    _write(ledger, 0, "b", (0.5, 0.7))
    SCARCE_BUDGETS["tiny-x"] = ScarceBudget("tiny", 8, 9, 8, 64, 32, preset="tiny", rounds=1)  # one more step
    try:
        with pytest.raises(OmnivecError, match="mismatched: seed 0: labels-50/b"):
            reproduce_scarce(tmp_path, "tiny-x", "tones,scenes", 0, 1, [50.0], ["b"], None, "", print, ledger,
                             render=True)  # fmt: skip
    finally:
        del SCARCE_BUDGETS["tiny-x"]


TINY = ScarceBudget("tiny-test", pretrain_steps=4, steps=4, batch_size=8, train_limit=48, test_limit=16, preset="tiny")


@pytest.mark.slow
def test_a_real_pretraining_run_is_recreated_with_the_recorded_losses(tmp_path) -> None:
    """End to end on the tiny budget: session 1 records (b); session 2, on an empty work folder, skips (b) and
    re-creates pt-mixed for (d), whose losses must match the record (CPU training replays)."""
    ledger, logs = tmp_path / "results", []
    SCARCE_BUDGETS["tiny-test"] = TINY
    try:
        args = ("tiny-test", "tones,scenes", 0, 1, [50.0])
        reproduce_scarce(tmp_path / "s1", *args, ["b"], None, "", logs.append, ledger)
        book = ledger / "label-scarce" / "tiny-test" / "tones+scenes" / "seed-0"
        pt = json.loads((book / "pt-mixed.json").read_text())
        assert len(pt["losses"]) >= 2 and {p.name for p in book.glob("*.json")} == {"pt-mixed.json", "init.json"}
        logs.clear()
        r = reproduce_scarce(tmp_path / "s2", *args, ["b", "d"], None, "", logs.append, ledger)
        ran = [line.split(":")[0] for line in logs if line.startswith("[label-scarce] seed-0/")]
        assert ran == ["[label-scarce] seed-0/pt-mixed", "[label-scarce] seed-0/labels-50/d"], logs
        assert json.loads((book / "pt-mixed.json").read_text()) == pt
        assert set(r["runs"][0]["rows"]["50"]) == {"b", "d"}
    finally:
        del SCARCE_BUDGETS["tiny-test"]
