"""Text-output metrics for generation tasks: CIDEr-D, BLEU, ROUGE, VQA accuracy, grounding and exact match.

CIDEr-D and BLEU use pycocoevalcap's scorers (its ``Cider`` is CIDEr-D: Gaussian length penalty, clipped
counts, idf from the reference corpus) and ROUGE the ``rouge-score`` package; both come with
``omnivec[metrics]``. The COCO toolkit tokenises with the Java PTB tokenizer; we use :func:`tokenize` instead
(lowercase, punctuation removed, split on whitespace), which is what the PTB tokenizer does to ordinary
captions, so scores stay close to the official ones but may differ on text with unusual punctuation
(contractions, hyphens).

Note that CIDEr-D's idf comes from the references being scored: score a whole split at once, never one sample.
"""

from __future__ import annotations

import contextlib
import io
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from omnivec.errors import OmnivecError
from omnivec.tasks.locations import box_iou

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_NUMBERS = {w: str(i) for i, w in enumerate(_NUMBER_WORDS)}
_ARTICLES = {"a", "an", "the"}


def tokenize(text: str) -> list[str]:
    """Lowercase, drop punctuation, split on whitespace (a stand-in for the Java PTB tokenizer)."""
    return _PUNCT.sub(" ", text.lower()).split()


def _refs(references: Sequence[str | Sequence[str]]) -> list[list[str]]:
    return [[r] if isinstance(r, str) else list(r) for r in references]


def _coco_inputs(
    candidates: Sequence[str], references: Sequence[str | Sequence[str]]
) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    refs = _refs(references)
    if len(candidates) != len(refs):
        raise OmnivecError(f"{len(candidates)} candidates but {len(refs)} reference sets")
    if any(not r for r in refs):
        raise OmnivecError("every candidate needs at least one reference")
    gts = {i: [" ".join(tokenize(x)) for x in r] for i, r in enumerate(refs)}
    res = {i: [" ".join(tokenize(c))] for i, c in enumerate(candidates)}
    return gts, res


def _pycocoevalcap(name: str) -> Any:
    try:
        if name == "cider":
            from pycocoevalcap.cider.cider import Cider

            return Cider()
        from pycocoevalcap.bleu.bleu import Bleu

        return Bleu(4)
    except ImportError:
        raise OmnivecError("CIDEr and BLEU need pycocoevalcap: pip install 'omnivec[metrics]'") from None


def cider_d(candidates: Sequence[str], references: Sequence[str | Sequence[str]]) -> float:
    """Corpus CIDEr-D as pycocoevalcap returns it (papers print 100×: 1.37 is reported as 137.0)."""
    gts, res = _coco_inputs(candidates, references)
    score, _ = _pycocoevalcap("cider").compute_score(gts, res)
    return float(score)


def bleu(candidates: Sequence[str], references: Sequence[str | Sequence[str]]) -> dict[str, float]:
    """Corpus BLEU-1…4 (closest reference length for the brevity penalty, as the COCO toolkit)."""
    gts, res = _coco_inputs(candidates, references)
    with contextlib.redirect_stdout(io.StringIO()):  # the scorer prints its n-gram counts
        scores, _ = _pycocoevalcap("bleu").compute_score(gts, res, verbose=0)
    return {f"bleu{n + 1}": float(s) for n, s in enumerate(scores)}


def rouge(candidates: Sequence[str], references: Sequence[str | Sequence[str]]) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F1; with several references each sample takes its best."""
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        raise OmnivecError("ROUGE needs rouge-score: pip install 'omnivec[metrics]'") from None
    refs = _refs(references)
    if len(candidates) != len(refs):
        raise OmnivecError(f"{len(candidates)} candidates but {len(refs)} reference sets")
    keys = ("rouge1", "rouge2", "rougeL")
    scorer = rouge_scorer.RougeScorer(list(keys))
    totals = dict.fromkeys(keys, 0.0)
    for cand, rs in zip(candidates, refs):
        per_ref = [scorer.score(r, cand) for r in rs]
        for k in keys:
            totals[k] += max(s[k].fmeasure for s in per_ref)
    return {k: v / max(len(refs), 1) for k, v in totals.items()}


def normalize_answer(text: str) -> str:
    """The VQA answer normalisation, simplified: lowercase, punctuation removed (a decimal point kept),
    number words to digits, articles dropped."""
    text = re.sub(r"(?<=\d)\.(?=\d)", "<dot>", text.lower())
    text = _PUNCT.sub("", text.replace("<dot>", "\0")).replace("\0", ".")
    words = [_NUMBERS.get(w, w) for w in text.split() if w not in _ARTICLES]
    return " ".join(words)


def vqa_accuracy(prediction: str, human_answers: Sequence[str]) -> float:
    """VQA soft accuracy: min(#humans who gave the answer / 3, 1), on normalised strings."""
    pred = normalize_answer(prediction)
    matches = sum(normalize_answer(a) == pred for a in human_answers)
    return min(matches / 3.0, 1.0)


def mean_vqa_accuracy(predictions: Sequence[str], human_answers: Sequence[Sequence[str]]) -> float:
    if len(predictions) != len(human_answers):
        raise OmnivecError(f"{len(predictions)} predictions but {len(human_answers)} answer sets")
    return sum(vqa_accuracy(p, a) for p, a in zip(predictions, human_answers)) / max(len(predictions), 1)


def vqa_score(prediction: str, confidences: Mapping[str, float]) -> float:
    """VQA with the soft score stored per answer (UnIVAL/OFA's VQA files, ``conf|!+answer``): the confidence of
    the predicted answer, 0 when it is none of them; answers compared after :func:`normalize_answer`."""
    pred = normalize_answer(prediction)
    return max((c for a, c in confidences.items() if normalize_answer(a) == pred), default=0.0)


def mean_vqa_score(predictions: Sequence[str], confidences: Sequence[Mapping[str, float]]) -> float:
    if len(predictions) != len(confidences):
        raise OmnivecError(f"{len(predictions)} predictions but {len(confidences)} answer sets")
    return sum(vqa_score(p, c) for p, c in zip(predictions, confidences)) / max(len(predictions), 1)


def grounding_accuracy(predicted: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> float:
    """Fraction of predicted boxes (N, 4) whose IoU with the target box (N, 4) is at least ``threshold``."""
    predicted, target = torch.as_tensor(predicted), torch.as_tensor(target)
    if predicted.shape != target.shape or predicted.shape[-1:] != (4,):
        raise OmnivecError(f"expected two (N, 4) box tensors, got {tuple(predicted.shape)} and {tuple(target.shape)}")
    if predicted.numel() == 0:
        return 0.0
    return float((box_iou(predicted, target) >= threshold).double().mean())


def exact_match(predictions: Sequence[str], references: Sequence[str | Sequence[str]], normalize: bool = True) -> float:
    """Fraction of predictions equal to one of their references (after :func:`normalize_answer` if asked)."""
    refs = _refs(references)
    if len(predictions) != len(refs):
        raise OmnivecError(f"{len(predictions)} predictions but {len(refs)} references")
    f = normalize_answer if normalize else (lambda s: s.strip())
    hits = sum(f(p) in {f(r) for r in rs} for p, rs in zip(predictions, refs))
    return hits / max(len(predictions), 1)


def caption_metrics(candidates: Sequence[str], references: Sequence[str | Sequence[str]]) -> dict[str, float]:
    """CIDEr-D, BLEU-4 and ROUGE-L of a whole split, the numbers caption papers report."""
    return {
        "cider_d": cider_d(candidates, references),
        "bleu4": bleu(candidates, references)["bleu4"],
        "rougeL": rouge(candidates, references)["rougeL"],
    }
