"""Text metrics on cases small enough to check by hand."""

from __future__ import annotations

import pytest
import torch

from omnivec.errors import OmnivecError
from omnivec.tasks.text_metrics import (
    bleu,
    caption_metrics,
    cider_d,
    exact_match,
    grounding_accuracy,
    mean_vqa_accuracy,
    normalize_answer,
    rouge,
    tokenize,
    vqa_accuracy,
)

REFS = [["a dog runs on the grass", "A brown dog is running."], ["two cats sleep on a red sofa"]]


def test_tokenize() -> None:
    assert tokenize("A brown dog, running!") == ["a", "brown", "dog", "running"]


def test_identical_candidates_are_perfect() -> None:
    cands = ["a dog runs on the grass", "two cats sleep on a red sofa"]
    refs = [["a dog runs on the grass"], ["two cats sleep on a red sofa"]]
    assert bleu(cands, refs)["bleu4"] == pytest.approx(1.0, abs=1e-6)
    assert rouge(cands, refs) == pytest.approx({"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0})
    # CIDEr-D: cosine 1 per n-gram order, no length penalty -> 10 (no n-gram occurs in both images, idf > 0)
    assert cider_d(cands, refs) == pytest.approx(10.0)
    assert cider_d(["zebra zebra", "giraffe"], refs) == pytest.approx(0.0)
    assert caption_metrics(cands, refs)["cider_d"] == pytest.approx(10.0)


def test_bleu_and_rouge_by_hand() -> None:
    # unigram precision clipped: "the" counted at most twice (the reference has two) -> 2 / 7; 7 > 6 so BP = 1
    out = bleu(["the the the the the the the"], [["the cat is on the mat"]])
    assert out["bleu1"] == pytest.approx(2 / 7, abs=1e-6)
    # LCS of "a b c d" and "a c e d" is "a c d": P = R = 3/4; ROUGE-1 also 3/4; bigrams in common: none
    r = rouge(["a b c d"], ["a c e d"])
    assert r["rougeL"] == pytest.approx(0.75) and r["rouge1"] == pytest.approx(0.75) and r["rouge2"] == 0.0
    # several references: the best one counts
    assert rouge(["a b c d"], [["x y", "a b c d"]])["rougeL"] == pytest.approx(1.0)
    with pytest.raises(OmnivecError, match="2 candidates but 1"):
        rouge(["a", "b"], ["a"])


def test_vqa_accuracy() -> None:
    humans = ["two", "2", "3", "three", "Three.", "the three", "3", "4", "2", "yes"]
    assert normalize_answer("The Two dogs!") == "2 dogs" and normalize_answer("1.5") == "1.5"
    assert vqa_accuracy("2", humans) == pytest.approx(1.0)  # "two", "2", "2" -> 3 humans
    assert vqa_accuracy("4", humans) == pytest.approx(1 / 3)
    assert vqa_accuracy("yes", ["yes", "yes", "no"]) == pytest.approx(2 / 3)
    assert vqa_accuracy("five", humans) == 0.0
    assert mean_vqa_accuracy(["4", "five"], [humans, humans]) == pytest.approx(1 / 6)


def test_grounding_accuracy() -> None:
    target = torch.tensor([[0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 4, 4]], dtype=torch.float)
    pred = torch.tensor([[0, 0, 2, 2], [1, 1, 3, 3], [0, 0, 2, 4]], dtype=torch.float)
    # IoUs 1, 1/7, 1/2 -> two of three at >= 0.5
    assert grounding_accuracy(pred, target) == pytest.approx(2 / 3)
    assert grounding_accuracy(pred, target, threshold=0.9) == pytest.approx(1 / 3)


def test_exact_match() -> None:
    assert exact_match(["Yes", "a cat", "dog"], ["yes", ["cat", "kitten"], "cat"]) == pytest.approx(2 / 3)
    assert exact_match(["Yes"], ["yes"], normalize=False) == 0.0
