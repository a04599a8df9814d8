"""Scoring a UnIVAL model on a seq2seq task: generate, then the task kind's metrics, the primary one as
``value``, a few examples and the share of degenerate repeating outputs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from torch.utils.data import Dataset

from omnivec.errors import OmnivecError
from omnivec.families.unival.model import UnivalModel
from omnivec.families.unival.tasks import get_seq2seq_task
from omnivec.tasks.seq2seq import Decoding, seq2seq_kind


def _grams(text: str, n: int) -> Counter[tuple[str, ...]]:
    words = text.replace(",", " ").split()
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def repeats_phrase(text: str, references: Sequence[str] = (), n: int = 3) -> bool:
    """Whether ``text`` repeats a phrase of ``n`` words more often than its reference does ("a 1 at the top
    left, a 1 at the top left"): the degenerate loop of an undertrained decoder. Without references, any phrase
    occurring twice counts. A templated caption may repeat a phrase legitimately ("a 9 at the top, a 7 at the top
    right" holds "at the top" twice), so a reference that repeats it as often excuses it. ``evaluate`` reports
    the share of the first 20 predictions."""
    allowed: Counter[tuple[str, ...]] = Counter()
    for r in references:
        allowed |= _grams(r, n)  # the most any one reference holds each phrase
    return any(c > max(1, allowed[g]) for g, c in _grams(text, n).items())


def _texts(reference: Any) -> list[str]:
    """A metric reference as the reference captions it holds (none for a box or a label index)."""
    if isinstance(reference, str):
        return [reference]
    if isinstance(reference, (list, tuple)) and all(isinstance(r, str) for r in reference):
        return list(reference)
    return []


def evaluate(
    model: UnivalModel,
    name: str,
    dataset: Dataset,
    decoding: Decoding | None = None,
    limit: int = 0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Generate for (up to ``limit`` of) ``dataset`` under ``decoding`` (default: :class:`Decoding`'s) and score it
    with the task's kind: its metrics, its primary metric as ``value``, examples. Unreadable samples
    (:class:`~omnivec.data.base.Skipped`) are left out and counted."""
    from omnivec.data.base import drop_skipped

    spec = get_seq2seq_task(name)
    n = len(dataset)  # type: ignore[arg-type]
    if limit:
        n = min(n, limit)
    items, bad = drop_skipped([dataset[i] for i in range(n)])  # (sample, answer, reference) triples
    skipped = len(bad)
    if not items:
        raise OmnivecError(f"{name}: none of the {n} test sample(s) could be read")
    preds = model.generate_text(name, [x for x, _, _ in items], decoding, batch_size)
    refs = [r for _, _, r in items]
    kind = seq2seq_kind(spec.kind)
    values = kind.score(preds, refs, model.cfg.num_bins)
    primary = kind.primary_metric
    examples = [{"prediction": p, "answer": a} for p, (_, a, _) in list(zip(preds, items))[:3]]
    first = list(zip(preds, refs))[:20]
    return {
        "repeats": sum(repeats_phrase(p, _texts(r)) for p, r in first) / max(1, len(first)),
        "task": name,
        "kind": spec.kind,
        "modality": spec.modality,
        "n": len(items),
        "skipped": skipped,
        "metric": primary,
        "value": values[primary],
        **values,
        "examples": examples,
    }


def evaluate_splits(
    model: UnivalModel,
    splits: Mapping[str, tuple[Dataset, Dataset]],
    decoding: Decoding | None = None,
    limit: int = 0,
) -> dict[str, dict[str, Any]]:
    """Every task's test split (the second of its ``(train, test)``) scored by :func:`evaluate` under ``decoding``:
    what a training run reports at its end and ``omnivec evaluate`` reports of a run folder."""
    return {n: evaluate(model, n, test, decoding, limit) for n, (_, test) in splits.items()}
