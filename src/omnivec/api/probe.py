"""Did pretraining learn anything? Linear-probe and k-NN accuracy of frozen features, beside random weights.

The standard read-outs of self-supervised features (MAE arXiv 2111.06377 §4 linear probing; DINO arXiv
2104.14294 §4.1 weighted k-NN): the trunk is frozen, every labelled sample becomes the model's pooled vector
(:meth:`OmniModel.embed`, the vector task heads read), and

- **linear probe**: a multinomial logistic regression (scikit-learn, L-BFGS) on standardised features, trained on
  up to ``num_train`` labelled training samples, scored on up to ``num_test`` test samples;
- **k-NN**: cosine similarity to the training features, the ``k`` nearest vote with weight ``exp(sim / 0.07)``.

Both take seconds. A pretrained model is compared with the *same architecture and tokenizer with fresh weights*
(:func:`random_twin`): random conv features are already strong on digits, so the absolute number says little and
the gap says whether pretraining moved the features anywhere useful. Classification tasks only (a dense task's
per-pixel labels have no single class per vector).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from omnivec.data.base import Skipped
from omnivec.nn.model import OmniModel


@dataclass
class ProbeResult:
    task: str
    modality: str
    linear: float
    knn: float
    num_train: int
    num_test: int
    chance: float


def _take(dataset: Dataset, limit: int, seed: int) -> list[tuple[Any, int]]:
    """A seeded subset of readable ``(sample, class)`` pairs (unreadable files are skipped)."""
    n = len(dataset)  # type: ignore[arg-type]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    out: list[tuple[Any, int]] = []
    for i in order:
        sample, target = dataset[i]
        if isinstance(sample, Skipped) or not isinstance(target, int | np.integer):
            continue
        out.append((sample, int(target)))
        if len(out) >= limit:
            break
    return out


@torch.no_grad()
def features(model: OmniModel, modality: str, samples: Sequence[Any], batch_size: int = 128) -> np.ndarray:
    """(N, D) pooled vectors of ``samples`` (raw samples of ``modality``), the model in eval mode."""
    chunks = [
        model.embed(modality, model.collate(modality, list(samples[i : i + batch_size]))).float().cpu()
        for i in range(0, len(samples), batch_size)
    ]
    return torch.cat(chunks).numpy()


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
    """Accuracy of a logistic regression on standardised features (the statistics of the training features)."""
    from sklearn.linear_model import LogisticRegression

    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    clf = LogisticRegression(max_iter=500, C=1.0)
    clf.fit((train_x - mean) / std, train_y)
    return float((clf.predict((test_x - mean) / std) == test_y).mean())


def knn_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 20, t: float = 0.07
) -> float:
    """DINO's weighted k-NN: cosine similarity, the ``k`` nearest training vectors vote ``exp(sim / t)``."""
    a = train_x / (np.linalg.norm(train_x, axis=1, keepdims=True) + 1e-8)
    b = test_x / (np.linalg.norm(test_x, axis=1, keepdims=True) + 1e-8)
    sim = b @ a.T  # (N_test, N_train)
    k = min(k, len(a))
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    classes = int(max(train_y.max(), test_y.max())) + 1
    votes = np.zeros((len(b), classes))
    weights = np.exp(np.take_along_axis(sim, top, 1) / t)
    np.add.at(votes, (np.arange(len(b))[:, None], train_y[top]), weights)
    return float((votes.argmax(1) == test_y).mean())


def probe_task(
    model: OmniModel,
    name: str,
    modality: str,
    train: Dataset,
    test: Dataset,
    num_train: int = 2000,
    num_test: int = 1000,
    seed: int = 0,
) -> ProbeResult | None:
    """Both read-outs of ``model``'s frozen features on one classification task; None without two classes."""
    tr, te = _take(train, num_train, seed), _take(test, num_test, seed + 1)
    tr_y, te_y = np.array([y for _, y in tr]), np.array([y for _, y in te])
    if len(set(tr_y.tolist())) < 2 or not len(te):
        return None
    tr_x = features(model, modality, [s for s, _ in tr])
    te_x = features(model, modality, [s for s, _ in te])
    chance = float(np.bincount(te_y).max() / len(te_y))
    return ProbeResult(
        name,
        modality,
        linear_probe(tr_x, tr_y, te_x, te_y),
        knn_accuracy(tr_x, tr_y, te_x, te_y),
        len(tr),
        len(te),
        chance,
    )


def random_twin(model: OmniModel, seed: int = 0) -> OmniModel:
    """``model``'s architecture and tokenizer with fresh weights (seeded): the baseline a pretraining must beat."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        twin = OmniModel(model.cfg, model.tokenizer)
    return twin.to(next(model.parameters()).device)


def probe_report(
    model: OmniModel, tasks: dict[str, Any], num_train: int = 2000, num_test: int = 1000, seed: int = 0
) -> list[dict[str, Any]]:
    """Probe every classification task of ``tasks`` (name -> :class:`omnivec.api.train.PreparedTask`) for ``model``
    and its :func:`random_twin`; one dict per task with both models' linear and k-NN accuracy."""
    twin = random_twin(model, seed)
    rows = []
    for name, p in tasks.items():
        if p.cfg.kind != "classification":
            continue
        mine = probe_task(model, name, p.cfg.modality, p.splits.train, p.splits.test, num_train, num_test, seed)
        base = probe_task(twin, name, p.cfg.modality, p.splits.train, p.splits.test, num_train, num_test, seed)
        if mine is None or base is None:
            continue
        rows.append(
            {
                "task": name,
                "modality": str(p.cfg.modality),
                "linear": mine.linear,
                "knn": mine.knn,
                "random_linear": base.linear,
                "random_knn": base.knn,
                "chance": mine.chance,
                "num_train": mine.num_train,
                "num_test": mine.num_test,
            }
        )
    return rows


def format_report(rows: list[dict[str, Any]]) -> str:
    """The table ``pretrain`` prints, with a verdict per task: a pretraining whose linear probe does not beat
    random features on a task learnt nothing useful for it."""
    if not rows:
        return "probe: no labelled classification task to probe (give class subfolders or a catalogue task)"
    lines = [f"{'task':20s} {'modality':8s} {'linear':>7s} {'random':>7s} {'k-NN':>7s} {'random':>7s}  verdict"]
    for r in rows:
        verdict = "learnt" if r["linear"] > r["random_linear"] else "NOT better than random weights"
        lines.append(
            f"{r['task']:20s} {r['modality']:8s} {r['linear']:7.3f} {r['random_linear']:7.3f} "
            f"{r['knn']:7.3f} {r['random_knn']:7.3f}  {verdict}"
        )
    return "\n".join(lines)


__all__ = ["ProbeResult", "format_report", "knn_accuracy", "linear_probe", "probe_report", "probe_task", "random_twin"]
