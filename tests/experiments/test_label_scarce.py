"""The label-scarce protocol: nested seeded label subsets, a grouped sequence that ends on every task, the
resumable parts of ``reproduce omnivec-label-scarce`` and the guard that row (c) learns what (b) learns."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from omnivec.api.finetune import make_phases
from omnivec.data.base import label_subset
from omnivec.errors import OmnivecError
from omnivec.experiments.label_scarce import run_seed
from omnivec.experiments.reproduce import reproduce_scarce
from omnivec.experiments.scarce_budget import CLOSE, ScarceBudget, closed_steps


def _ids(ds) -> set[int]:
    return {int(ds[i][0]) for i in range(len(ds))}


def test_label_subsets_are_seeded_nested_and_per_task() -> None:
    ds = TensorDataset(torch.arange(1000))
    one, ten = label_subset(ds, 0.01, 3, "mnist"), label_subset(ds, 0.1, 3, "mnist")
    assert len(one) == 10 and len(ten) == 100
    assert _ids(one) <= _ids(ten)  # the 1 % lies inside the 10 %
    assert _ids(one) == _ids(label_subset(ds, 0.01, 3, "mnist"))  # every row of a seed sees the same labels
    assert _ids(one) != _ids(label_subset(ds, 0.01, 4, "mnist"))
    assert _ids(one) != _ids(label_subset(ds, 0.01, 3, "fsdd"))
    assert label_subset(ds, 1.0, 3, "mnist") is ds
    assert len(label_subset(ds, 1e-6, 0, "x")) == 1  # never empty
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(OmnivecError, match="label_fraction"):
            label_subset(ds, bad, 0, "x")


def _sub_batches(phases, task: str) -> int:
    return sum(p.steps for p in phases if task in p.tasks)


def test_grouped_sequence_ends_with_a_joint_phase_and_every_task_gets_its_steps() -> None:
    groups = [["mnist", "fsdd", "banking77"], ["digit-scenes"]]
    steps = closed_steps(150, len(groups), CLOSE)
    phases = make_phases(groups, 2, steps, close=CLOSE)
    assert phases[-1].tasks == ["mnist", "fsdd", "banking77", "digit-scenes"] and phases[-1].group == -1
    assert sum(p.steps for p in phases) == steps
    assert [p.start for p in phases] == [sum(q.steps for q in phases[:i]) for i in range(len(phases))]
    for t in ("mnist", "digit-scenes"):  # the same labelled sub-batches as the unified row's 150
        assert abs(_sub_batches(phases, t) - 150) <= 2
    # without the closing phase the sequence ends on the dense group alone (the old collapse's last phase)
    assert make_phases(groups, 2, 300)[-1].tasks == ["digit-scenes"]
    assert make_phases([["a"]], 1, 10, close=CLOSE)[-1].steps == 10  # one group: nothing to close
    with pytest.raises(OmnivecError, match="closing"):
        make_phases(groups, 2, 300, close=1.0)


TINY = ScarceBudget("tiny-test", pretrain_steps=4, steps=4, batch_size=8, train_limit=48, test_limit=16, preset="tiny")


@pytest.mark.slow
def test_reproduce_label_scarce_writes_the_table_and_resumes_part_by_part(tmp_path) -> None:
    logs: list[str] = []
    out, page = tmp_path / "ls", tmp_path / "results.md"
    page.write_text("# Results\n\nhand-kept text\n")
    from omnivec.experiments import scarce_budget

    scarce_budget.SCARCE_BUDGETS["tiny-test"] = TINY
    try:
        args = (out, "tiny-test", "tones,scenes", 0, 2, [50.0], ["b", "c", "d"], page, "", logs.append)
        r = reproduce_scarce(*args, ledger=tmp_path / "results")
        assert len(r["runs"]) == 2 and {c["claim"] for c in r["claims"]} >= {"(c) >= (b)", "grouping"}
        text = page.read_text()
        assert "hand-kept text" in text and "### 50 % of the labels" in text
        assert "(c) unified, pretrained, grouped, mixed" in text and "| 50 % | (c) >= (b) |" in text
        assert "(a) specialist" not in text  # rows not run are not shown
        ran = [line for line in logs if line.startswith("[label-scarce]")]
        assert len(ran) == 2 * 5  # per seed: pt-mixed, init, b, c, d
        # a second call finds every part recorded and trains nothing; a part lost from the ledger runs again, alone
        (
            tmp_path / "results" / "label-scarce" / "tiny-test" / "tones+scenes" / "seed-1" / "labels-50" / "c.json"
        ).unlink()
        (out / "seed-1" / "parts" / "labels-50__c.json").unlink()
        logs.clear()
        again = reproduce_scarce(*args, ledger=tmp_path / "results")
        assert [line.split(":")[0] for line in logs] == ["[label-scarce] seed-1/labels-50/c"]
        assert again["runs"][0]["rows"] == r["runs"][0]["rows"]
    finally:
        del scarce_budget.SCARCE_BUDGETS["tiny-test"]


def test_bad_protocol_arguments_are_refused(tmp_path) -> None:
    with pytest.raises(OmnivecError, match="budget"):
        reproduce_scarce(tmp_path, "huge")
    with pytest.raises(OmnivecError, match="labels"):
        reproduce_scarce(tmp_path, "tiny", labels=[0.0])
    with pytest.raises(OmnivecError, match="row"):
        reproduce_scarce(tmp_path, "tiny", rows=["z"])
    with pytest.raises(OmnivecError, match="unknown task"):
        reproduce_scarce(tmp_path, "tiny", suite="tones,nope", rows=["b"])


@pytest.mark.slow
def test_pretrained_grouped_row_learns_what_the_unified_row_learns(tmp_path) -> None:
    """The guard of the old collapse: row (c) ended at chance (mnist 0.108) on tasks that (a) and (b) learnt,
    because the grouped sequence ended with a dense-only phase after which the classification heads no longer
    fitted the moved trunk, on top of half the labelled steps and a worse-than-random start. Here (c) gets (b)'s
    labelled sub-batches and ends on every task; on every task (b) learns, (c) must close half of (b)'s gap to
    chance."""
    budget = ScarceBudget("guard", 20, 60, 16, train_limit=256, test_limit=64, preset="tiny", rounds=2)
    s = run_seed(tmp_path, budget, "tones,scenes", 0, [1.0], ["b", "c"], "", log=lambda _: None)
    rows, meta = s["rows"]["100"], s["meta"]
    learnt = [t for t in s["tasks"] if rows["b"][t] > meta[t]["chance"] + 0.2]
    assert learnt, f"(b) learnt nothing at this budget: {rows['b']} (chance {meta})"
    for t in learnt:
        chance = meta[t]["chance"]
        assert rows["c"][t] >= chance + 0.5 * (rows["b"][t] - chance), (t, rows, meta)
