"""The merge methods on state dicts (name -> tensor) of one architecture; :mod:`omnivec.api.merge` applies them to
run folders, and its docstring says what each method computes and the rules they share."""

from __future__ import annotations

import fnmatch
import zlib
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from omnivec.errors import OmnivecError

State = Mapping[str, Tensor]
METHODS = ("interpolate", "average", "task_arithmetic", "ties", "dare", "dare_ties")
TASK_VECTOR_METHODS = ("task_arithmetic", "ties", "dare", "dare_ties")
"""Methods that merge task vectors (fine-tuned − pretrained), so they need the pretrained run."""
DEFAULT_DENSITY = {"ties": 0.2, "dare": 0.5, "dare_ties": 0.5}
"""The share of each task vector kept when none is given: TIES's top 20 % by magnitude (the paper's k = 20),
DARE's random half (mergekit's examples; the DARE paper drops up to 90 % of a large language model's deltas)."""


def check_compatible(states: Sequence[State], names: Sequence[str] | None = None) -> None:
    """Same keys, shapes and dtypes in every state, else an error naming what differs and where."""
    names = list(names) if names is not None else [f"state {i}" for i in range(len(states))]
    if not states:
        raise OmnivecError("nothing to merge: no states given")
    first = states[0]
    for name, state in zip(names[1:], states[1:]):
        missing, extra = sorted(set(first) - set(state)), sorted(set(state) - set(first))
        if missing or extra:
            raise OmnivecError(
                f"{name} does not have the same keys as {names[0]}: missing {_few(missing)}, extra {_few(extra)}"
            )
        bad = [
            f"{k}: {tuple(first[k].shape)} vs {tuple(state[k].shape)}"
            for k in first
            if first[k].shape != state[k].shape
        ]
        if bad:
            raise OmnivecError(f"{name} has different shapes from {names[0]}: {_few(bad)}")
        bad = [f"{k}: {first[k].dtype} vs {state[k].dtype}" for k in first if first[k].dtype != state[k].dtype]
        if bad:  # an int32 tensor where a float weight belongs would be merged as if it were weights
            raise OmnivecError(f"{name} has different dtypes from {names[0]}: {_few(bad)}")


def _few(items: list[str], n: int = 5) -> str:
    return "[" + ", ".join(items[:n]) + (f", … {len(items) - n} more" if len(items) > n else "") + "]"


def _skipped(key: str, skip: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in skip)


def _mergeable(key: str, value: Tensor, skip: Sequence[str]) -> bool:
    return value.is_floating_point() and not _skipped(key, skip)


def _combine(tensors: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    acc = sum(w * t.double() for w, t in zip(weights, tensors))
    return torch.as_tensor(acc).to(tensors[0].dtype)


def interpolate(first: State, second: State, alpha: float, skip: Sequence[str] = ()) -> dict[str, Tensor]:
    """(1 − α)·first + α·second. α = 0 returns first's values and α = 1 second's, exactly (no arithmetic)."""
    check_compatible([first, second], ["first", "second"])
    out: dict[str, Tensor] = {}
    for k, a in first.items():
        if not _mergeable(k, a, skip) or alpha == 0.0:
            out[k] = a.clone()
        elif alpha == 1.0:
            out[k] = second[k].clone()
        else:
            out[k] = _combine([a, second[k]], [1.0 - alpha, alpha])
    return out


def average(
    states: Sequence[State], weights: Sequence[float] | None = None, skip: Sequence[str] = ()
) -> dict[str, Tensor]:
    """Σ w_i·θ_i with the weights normalised to sum to 1 (uniform when not given)."""
    check_compatible(states)
    w = [1.0] * len(states) if weights is None else [float(x) for x in weights]
    if len(w) != len(states) or sum(w) <= 0 or any(x < 0 for x in w):
        raise OmnivecError(f"need {len(states)} non-negative weights with a positive sum, got {list(w)}")
    w = [x / sum(w) for x in w]
    return {
        k: _combine([s[k] for s in states], w) if _mergeable(k, a, skip) else a.clone() for k, a in states[0].items()
    }


def task_arithmetic(
    pretrained: State, finetuned: Sequence[State], scale: float = 1.0, skip: Sequence[str] = ()
) -> dict[str, Tensor]:
    """θ_pre + scale · Σ_i (θ_i − θ_pre). Scale 0 returns the pretrained values exactly."""
    return _task_vectors(pretrained, finetuned, scale, skip, lambda _k, taus: taus.sum(0))


def _task_vectors(
    pretrained: State,
    finetuned: Sequence[State],
    scale: float,
    skip: Sequence[str],
    combine: Callable[[str, Tensor], Tensor],
) -> dict[str, Tensor]:
    """θ_pre + scale · combine(name, τ) per mergeable tensor, τ the (M, ...) stack of its task vectors θ_i − θ_pre in
    float64; the rest (and everything at scale 0) keeps the pretrained values exactly."""
    check_compatible([pretrained, *finetuned], ["pretrained"] + [f"finetuned {i}" for i in range(len(finetuned))])
    out: dict[str, Tensor] = {}
    for k, p in pretrained.items():
        if not _mergeable(k, p, skip) or scale == 0.0:
            out[k] = p.clone()
            continue
        taus = torch.stack([f[k].double() - p.double() for f in finetuned])
        out[k] = (p.double() + scale * combine(k, taus)).to(p.dtype)
    return out


def _trim(tau: Tensor, density: float) -> Tensor:
    """Keep the top ``density`` fraction of entries by magnitude (at least one), zero the rest."""
    flat = tau.flatten()
    k = max(1, round(density * flat.numel()))
    if k >= flat.numel():
        return tau
    kept = torch.zeros_like(flat)
    idx = flat.abs().topk(k).indices
    kept[idx] = flat[idx]
    return kept.view_as(tau)


def _elect_and_mean(taus: Tensor) -> Tensor:
    """TIES's merge of (M, ...) sparsified task vectors: the sign with more total mass per entry, then the mean
    of the non-zero values that agree with it (disjoint mean)."""
    sign = taus.sum(0).sign()
    agree = (taus.sign() == sign) & (taus != 0)
    return (taus * agree).sum(0) / agree.sum(0).clamp(min=1)


def _check_density(method: str, density: float) -> None:
    if not 0.0 < density <= 1.0:
        raise OmnivecError(f"{method} density is the fraction of each task vector kept, in (0, 1]; got {density}")


def ties_merge(
    pretrained: State,
    finetuned: Sequence[State],
    density: float = 0.2,
    scale: float = 1.0,
    skip: Sequence[str] = (),
) -> dict[str, Tensor]:
    """TIES: trim each task vector to its top-``density`` entries, elect signs by mass, disjoint mean.

    Trimming is per tensor (as mergekit does), not over the whole flattened model as in the paper, so no
    model-sized vector is ever built; the two agree for a model with a single tensor.
    """
    _check_density("TIES", density)
    return _task_vectors(
        pretrained,
        finetuned,
        scale,
        skip,
        lambda _k, taus: _elect_and_mean(torch.stack([_trim(t, density) for t in taus])),
    )


def _drop_and_rescale(tau: Tensor, density: float, g: torch.Generator) -> Tensor:
    """DARE on one task-vector tensor: each entry kept with probability ``density``, divided by it."""
    if density == 1.0:
        return tau
    keep = torch.rand(tau.shape, generator=g, dtype=torch.float64) < density
    return torch.where(keep, tau / density, torch.zeros((), dtype=tau.dtype))


def dare_merge(
    pretrained: State,
    finetuned: Sequence[State],
    density: float = 0.5,
    scale: float = 1.0,
    skip: Sequence[str] = (),
    seed: int = 0,
    elect_sign: bool = False,
) -> dict[str, Tensor]:
    """DARE: every task vector's entries dropped with probability 1 − ``density`` and the rest rescaled by
    1 / ``density``, then θ_pre + scale · Σ_i τ̃_i, or with ``elect_sign`` θ_pre + scale · TIES's sign election and
    disjoint mean of the τ̃_i. A tensor's drop masks depend only on ``seed`` and its name (a generator per name,
    drawn task vector by task vector), not on the order a file lists the tensors in: the same inputs and seed
    give the same merge however they were saved."""
    _check_density("DARE", density)

    def combine(k: str, taus: Tensor) -> Tensor:
        g = torch.Generator().manual_seed(zlib.crc32(f"{seed}:{k}".encode()))  # torch seeds mt19937 with 32 bits
        kept = torch.stack([_drop_and_rescale(t, density, g) for t in taus])
        return _elect_and_mean(kept) if elect_sign else kept.sum(0)

    return _task_vectors(pretrained, finetuned, scale, skip, combine)
