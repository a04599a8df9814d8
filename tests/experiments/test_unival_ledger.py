"""``reproduce-unival`` built from committed ledger parts: the page renders from fixture records alone (a missing
or mismatched part is listed as pending, refused with --strict), recorded parts are skipped, ``--parts`` and
``--max-parts`` run some of them, and a lost pretraining run is re-created in its stages with its losses checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_helpers import real_root
from omnivec.cli import main
from omnivec.errors import OmnivecError
from omnivec.experiments.ledger import Ledger
from omnivec.experiments.parts import Part, Parts
from omnivec.experiments.unival_plan import BUDGETS, MERGES, plan_seed, stage_ends
from omnivec.experiments.unival_reproduce import reproduce, run_parts, seed_ledger
from omnivec.families.unival.derived_tasks import STAGE1, STAGE2

METRICS = {"caption": "cider_d", "vqa": "vqa_acc", "grounding": "acc_iou50", "detect": "f1_iou50"}
FRACTIONS = (100.0,)


def _score(task: str, value: float) -> dict[str, object]:
    metric = METRICS.get(task.split("_")[0], "accuracy")
    example = [{"prediction": "p", "answer": "a"}]
    return {"task": task, "metric": metric, "value": value, "repeats": 0.0, "examples": example}


def _scores(name: str, seed: int) -> dict[str, object]:
    """Hand-checkable scores: seed 0 and seed 1 differ by 0.1 (0.2 for grounding, which misses on one seed)."""
    d = 0.1 * seed
    if name.startswith("pretrain"):
        values = {t: 0.5 + d for t in [*STAGE1, *STAGE2]} | {"vqa_image": 0.6 + d, "grounding_image": 0.4 + 2 * d}
        values |= {"caption_image": 3.0 + d, "matching_image": 0.85}
        return {t: _score(t, v) for t, v in values.items()}
    if name.startswith("merge-"):  # specialists 2.0 and 0.5: only the middle of the grid keeps both
        grid = MERGES[name.removeprefix("merge-")]
        return {"rows": [{"alpha": a, "caption_image": 1.95 if 0 < a < 1 else 1.0, "vqa_image": 0.49} for a in grid]}
    task = {"ft_summarize": "summarize_text", "ft_caption": "caption_image", "ft_vqa": "vqa_image"}.get(name)
    task = task or "caption_audio"
    value = {"caption_image": 2.0, "vqa_image": 0.5, "summarize_text": 0.13}.get(task, 3.5 + d)
    value = value if not name.endswith("-scratch") else 3.0
    return {task: _score(task, value)}


def _write_seed(ledger: Path, seed: int, skip: tuple[str, ...] = (), config_hash: dict[str, str] | None = None) -> None:
    """Every part of the tiny budget's seed, recorded as a finished part leaves it (but those in ``skip``)."""
    book = seed_ledger(ledger, "tiny", seed)
    for name, part in plan_seed(ledger / "unused", "tiny", seed, "", FRACTIONS).items():
        if name in skip:
            continue
        h = (config_hash or {}).get(name, part.hash)
        record = {"part": name, "seed": seed, "config_hash": h, "config": part.config, "scores": _scores(name, seed)}
        book.write(record | {"wall_s": 60.0, "torch": "2.x", "threads": 2, "matmul_gflops": 50.0})


def _render(tmp_path: Path, ledger: Path, seeds: int = 2, **kw: object) -> dict:
    page = tmp_path / "docs" / "results_unival.md"
    return reproduce(tmp_path / "work", page, "tiny", "", seeds, 0, FRACTIONS, print, ledger, render_only=True, **kw)  # type: ignore[arg-type]


def test_the_tiny_budget_pretrains_in_stages_and_full_in_two_parts() -> None:
    assert stage_ends(BUDGETS["tiny"]) == [3, 6] and stage_ends(BUDGETS["full"]) == [1000, 2000]
    assert stage_ends(BUDGETS["medium"]) == [1000]
    plan = plan_seed(Path("w"), "tiny", 0, "", FRACTIONS)
    assert list(plan)[:4] == ["pretrain-step3", "pretrain", "pretrain-no-curriculum-step3", "pretrain-no-curriculum"]
    assert plan["pretrain"].needs == (plan["pretrain-step3"],)
    assert plan["pretrain"].config["start"] == plan["pretrain-step3"].ref()
    assert {p.name for p in plan["merge-ties"].needs} == {"ft_caption", "ft_vqa", "pretrain"}
    # a change to a fine-tune's steps leaves pretraining's record valid; one to pretraining changes every child
    BUDGETS["tiny-x"] = BUDGETS["tiny"] | {"ft_steps": 5}
    try:
        other = plan_seed(Path("w"), "tiny-x", 0, "", FRACTIONS)
        assert other["pretrain"].hash == plan["pretrain"].hash and other["ft_vqa"].hash != plan["ft_vqa"].hash
        assert other["merge-linear"].hash != plan["merge-linear"].hash
    finally:
        del BUDGETS["tiny-x"]


def test_render_builds_the_page_from_committed_parts_alone(tmp_path) -> None:
    ledger = tmp_path / "results" / "unival"
    _write_seed(ledger, 0)
    _write_seed(ledger, 1)
    s = _render(tmp_path, ledger)
    text = (tmp_path / "docs" / "results_unival.md").read_text()
    assert [r["seed"] for r in s["runs"]] == [0, 1] and s["pending"] == [] == s["mismatched"]
    assert "| vqa_image | vqa_acc ≥ 0.6 | 0.650 ± 0.071 | 0.600 | **yes** |" in text
    assert "| grounding_image | acc_iou50 ≥ 0.5 | 0.500 ± 0.141 | 0.400 | on the mean only |" in text
    assert "| caption_audio | cider_d ≥ 3 | 3.550 ± 0.071 | 3.500 | **yes** |" in text
    assert "| merging | ≥ 95 % of both, every seed | linear 0.2, linear 0.4, linear 0.6, linear 0.8, soup 0.5," in text
    assert "- **linear**: keeps ≥ 95 % of both at 0.2, 0.4, 0.6, 0.8 in every seed" in text
    assert "| 100 % | 3.550 ± 0.071 | 3.000 ± 0.000 | +0.550 [-0.085, +1.185] | **inconclusive** |" in text
    assert "| vqa_image | vqa_acc | 0.650 ± 0.071 | 0.650 ± 0.071 | +0.000 [+0.000, +0.000] inconclusive |" in text
    assert "pretraining\n6 steps in 2 parts ending at steps 3, 6" in text and "| 3 | 3.050 ± 0.071 |" in text
    assert "2 CPU threads, fp32 matmul 50 GFLOP/s, torch 2.x: **13.0 min per seed**" in text
    assert "--ledger " + str(ledger) in text and "Pending" not in text
    assert not (tmp_path / "work").exists()  # nothing trained
    assert (tmp_path / "docs" / "figures" / "unival_lambda_curve.png").stat().st_size > 1000


def test_a_missing_or_mismatched_part_is_pending_and_refused_when_strict(tmp_path) -> None:
    ledger = tmp_path / "results" / "unival"
    _write_seed(ledger, 0)
    _write_seed(ledger, 1, skip=("ft_vqa",), config_hash={"merge-soup": "0123456789ab"})
    s = _render(tmp_path, ledger)
    text = (tmp_path / "docs" / "results_unival.md").read_text()
    assert [r["seed"] for r in s["runs"]] == [0] and "Seeds [0]" in text  # the complete seed alone
    assert s["pending"] == ["seed 1: ft_vqa, merge-soup"] and "- seed 1: ft_vqa, merge-soup" in text
    now = plan_seed(Path("w"), "tiny", 1, "", FRACTIONS)["merge-soup"].hash
    assert s["mismatched"] == [f"seed 1: merge-soup (recorded for config 0123456789ab, now {now})"]
    with pytest.raises(OmnivecError, match=r"pending: seed 1: ft_vqa, merge-soup(.|\n)*mismatched: seed 1: merge-soup"):
        _render(tmp_path, ledger, strict=True)
    args = ["reproduce-unival", "--budget", "tiny", "--seeds", "2", "--audio-fractions", "100", "--ledger", str(ledger)]
    assert main([*args, "--out", str(tmp_path / "p.md"), "--render", "--strict"]) == 2
    # no seed complete: the render names what is missing
    with pytest.raises(OmnivecError, match="pending: seed 1: ft_vqa"):
        reproduce(tmp_path / "w", tmp_path / "q.md", "tiny", "", 1, 1, FRACTIONS, print, ledger, render_only=True)
    assert not (tmp_path / "q.md").exists()


def test_recorded_parts_are_skipped_nothing_trains_and_only_render_writes_the_page(tmp_path) -> None:
    ledger, logs = tmp_path / "results" / "unival", []
    _write_seed(ledger, 0)
    s = reproduce(tmp_path / "work", tmp_path / "p.md", "tiny", "", 1, 0, FRACTIONS, logs.append, ledger)
    assert s["ran"] == 0 and [r["seed"] for r in s["runs"]] == [0]
    assert len(logs) == 1 and "--render" in logs[0] and not (tmp_path / "p.md").exists()  # only --render writes
    assert not any(p.is_dir() and p.name != "parts" for p in (tmp_path / "work" / "seed-0").iterdir())


def _fake(name: str, calls: list[str], needs: tuple[Part, ...] = ()) -> Part:
    def fn(folder: Path) -> dict[str, float]:
        calls.append(name)
        folder.mkdir(parents=True)
        (folder / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n")
        return {"v": 1.0}

    return Part(name, fn, {"n": name, "needs": [p.ref() for p in needs]}, needs)


def test_parts_and_max_parts_run_some_of_the_parts(tmp_path) -> None:
    calls: list[str] = []
    pre = _fake("pretrain", calls)
    plan = {p.name: p for p in (pre, _fake("ft_caption", calls, (pre,)), _fake("audio-5-scratch", calls))}
    runners = {0: Parts(tmp_path, print, ledger=Ledger(tmp_path / "ledger"))}
    assert run_parts({0: plan}, runners, ["audio-*"]) == 1 and calls == ["audio-5-scratch"]
    logs: list[str] = []
    assert run_parts({0: plan}, runners, None, max_parts=1, log=logs.append) == 1 and calls[1:] == ["pretrain"]
    assert "--max-parts 1" in logs[-1]
    assert run_parts({0: plan}, runners) == 1 and calls[2:] == ["ft_caption"]  # the rest; recorded ones skipped
    with pytest.raises(OmnivecError, match="no part named merge-x; the parts of a seed: pretrain-step3"):
        reproduce(tmp_path / "w", tmp_path / "p.md", "tiny", "", 1, 0, FRACTIONS, print, None, parts=["merge-x"])


@pytest.mark.slow
def test_a_lost_staged_pretraining_is_recreated_and_its_losses_checked(tmp_path) -> None:
    """Session 1 pretrains in two stages (3 + 3 steps); staged == one run of 6 steps; session 2, on an empty work
    folder, fine-tunes from it, re-creating both stages with their recorded losses; a record with other losses
    stops session 3 naming the part."""
    root, ledger, logs = str(real_root()), tmp_path / "results", []
    args = ("tiny", root, 1, 0, FRACTIONS)
    reproduce(tmp_path / "s1", tmp_path / "p.md", *args, logs.append, ledger, parts=["pretrain"])  # type: ignore[misc]
    book = seed_ledger(ledger, "tiny", 0)
    rec = book.read("pretrain")
    assert rec is not None and [s for s, _ in rec["losses"]] == [1, 2, 3, 4, 5, 6]
    assert [s for s, _ in book.read("pretrain-step3")["losses"]] == [1, 2, 3]  # type: ignore[index]
    from omnivec.experiments.unival_plan import _cfg
    from omnivec.families.unival.train import pretrain

    cfg = _cfg(BUDGETS["tiny"], 6, root, 0)
    cfg.stage1_steps = 3
    pretrain(cfg, tmp_path / "one", [*STAGE1, *STAGE2], False, 16)
    one = [json.loads(line)["loss"] for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert [v for _, v in rec["losses"]] == one  # the stages replay the one run bit for bit
    logs.clear()
    reproduce(tmp_path / "s2", tmp_path / "p.md", *args, logs.append, ledger, parts=["ft_caption"])  # type: ignore[misc]
    assert any("seed-0/pretrain: re-created" in line and "losses match" in line for line in logs), logs
    assert book.read("pretrain") == rec and book.read("ft_caption") is not None
    rec["losses"][-1][1] *= 1.01
    book.write(rec)
    with pytest.raises(OmnivecError, match=r"'pretrain' re-created with a different loss at step 6"):
        reproduce(tmp_path / "s3", tmp_path / "p.md", *args, print, ledger, parts=["ft_vqa"])  # type: ignore[misc]


def test_a_recreation_whose_losses_differ_is_refused_every_time(tmp_path) -> None:
    """A part re-created with other losses than its record is not left behind as done: asked again, it is
    re-created and refused again, and the parts built on it never run on the mismatched folder."""
    calls: list[str] = []
    pre = _fake("pretrain", calls)
    book = Ledger(tmp_path / "ledger")
    runners = Parts(tmp_path / "work", print, ledger=book)
    rec = runners.run(pre)
    book.write(rec | {"losses": [[1, 2.0]]})  # recorded elsewhere: another loss at step 1
    fresh = Parts(tmp_path / "work2", print, ledger=book)
    for _ in range(2):
        with pytest.raises(OmnivecError, match="re-created with a different loss at step 1"):
            fresh.materialize(pre)
    assert calls == ["pretrain"] * 3
