"""``reproduce-unival`` over seeds: every claim's table, the merging methods, scarce audio, and resuming."""

from __future__ import annotations

import json

import pytest

from data_helpers import real_root
from omnivec.errors import OmnivecError
from omnivec.experiments.unival_reproduce import MERGES, keeps, reproduce
from omnivec.families.unival.scoring import repeats_phrase


def test_repeated_phrases_are_detected() -> None:
    assert repeats_phrase("a 1 at the top left, a 1 at the top left, a 1 at the right")
    assert repeats_phrase("We a We a We a")
    assert not repeats_phrase("a 1 at the top left and a 7 at the right")
    assert not repeats_phrase("")


def test_a_phrase_the_reference_repeats_as_often_is_not_a_loop() -> None:
    # the template repeats "at the top" in a right caption; wrong digits repeated three times are a loop
    ref = "a 9 at the top, a 7 at the top right and a 5 at the bottom left"
    assert not repeats_phrase(ref, [ref])
    assert repeats_phrase(ref)  # without its reference the template's own repeat counts
    assert repeats_phrase("a 1 at the top, a 1 at the top right and a 1 at the bottom left", [ref])
    assert not repeats_phrase("a 9 at the top, a 7 at the top right", ["x y z", ref])  # the most any ref holds


def test_keeps_names_the_grid_values_that_keep_both_specialists() -> None:
    run = {
        "caption_specialist": {"caption_image": {"value": 2.0}},
        "vqa_specialist": {"vqa_image": {"value": 0.5}},
        "merge": {"linear": [{"alpha": 0.0, "caption_image": 2.0, "vqa_image": 0.2},
                             {"alpha": 0.5, "caption_image": 1.95, "vqa_image": 0.48},
                             {"alpha": 1.0, "caption_image": 1.0, "vqa_image": 0.5}]},
    }  # fmt: skip
    assert keeps(run, "linear") == [0.5]


@pytest.mark.slow
def test_reproduce_unival_two_seeds_writes_every_claim_and_resumes(tmp_path) -> None:
    root = str(real_root())
    page, work, logs = tmp_path / "docs" / "results_unival.md", tmp_path / "work", []
    s = reproduce(work, page, "tiny", root, seeds=2, fractions=(50.0,), log=logs.append)
    assert [r["seed"] for r in s["runs"]] == [0, 1]
    text = page.read_text()
    assert "Seeds [0, 1]" in text and "| caption_image | cider_d |" in text
    for method in MERGES:
        assert f"| {method} |" in text
    assert "| 50 % |" in text and "difference [95 % CI]" in text
    assert (page.parent / "figures" / "unival_lambda_curve.png").stat().st_size > 1000
    # the two seeds trained different models (different data order and initialisation)
    a, b = (r["multitask"]["caption_image"]["value"] for r in s["runs"])
    first = [(work / f"seed-{k}" / "pretrain" / "metrics.jsonl").read_text().splitlines()[0] for k in (0, 1)]
    losses = [json.loads(line) for line in first]
    assert losses[0]["loss"] != losses[1]["loss"] or a != b
    # resuming trains nothing that finished
    logs.clear()
    reproduce(work, page, "tiny", root, seeds=2, fractions=(50.0,), log=logs.append)
    assert logs == []


def test_bad_arguments_are_refused(tmp_path) -> None:
    with pytest.raises(OmnivecError, match="budget"):
        reproduce(tmp_path, tmp_path / "r.md", "huge")
    with pytest.raises(OmnivecError, match="seeds"):
        reproduce(tmp_path, tmp_path / "r.md", "tiny", seeds=0)
