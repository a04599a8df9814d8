"""A stream checkpointed under one number of ranks resumes under another where the ranks stopped: together they
take each sample of the epoch once (docs/scale.md, "Checkpoints and a change of world size")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omnivec.data.stream import BatchStream
from omnivec.errors import OmnivecError
from omnivec.training.state_check import _check_streams

N, BATCH = 48, 4


def ids(items: list[tuple[int, int]]) -> list[int]:
    return [x for x, _ in items]


def stream(rank: int = 0, world: int = 1) -> BatchStream:
    data = [(i, 0) for i in range(N)]  # (input, target) pairs, as every dataset yields
    return BatchStream(data, BATCH, seed=3, collate=ids, rank=rank, world_size=world)  # type: ignore[arg-type]


def take(streams: list[BatchStream], steps: int) -> list[int]:
    return [x for _ in range(steps) for s in streams for x in next(s)]


def rest_of_epoch(streams: list[BatchStream]) -> list[int]:
    """Every sample the ranks take until the epoch ends."""
    seen: list[int] = []
    while all(s.epoch == 0 for s in streams):
        seen += take(streams, 1)
        if streams[0].position * BATCH * len(streams) >= N:
            break
    return seen


@pytest.mark.parametrize(("before", "after", "steps"), [(2, 1, 2), (1, 2, 4), (2, 3, 3), (3, 2, 2)])
def test_resume_on_another_world_size_takes_each_sample_once(before: int, after: int, steps: int) -> None:
    old = [stream(r, before) for r in range(before)]
    seen = take(old, steps)
    state = old[0].state_dict()
    assert state == {"epoch": 0, "position": steps, "world_size": before}
    new = [stream(r, after) for r in range(after)]
    for s in new:
        s.load_state_dict(state)
    assert new[0].position == steps * before // after
    seen += rest_of_epoch(new)
    assert sorted(seen) == list(range(N)), "a sample was skipped or taken twice in the epoch"


def test_an_uneven_conversion_rounds_down_and_repeats_at_most_one_global_batch() -> None:
    one = stream()
    seen = take([one], 3)  # 3 batches on 1 rank: 1.5 batches on each of 2 ranks
    two = [stream(r, 2) for r in range(2)]
    for s in two:
        s.load_state_dict(one.state_dict())
    assert two[0].position == 1
    seen += rest_of_epoch(two)
    assert set(seen) == set(range(N))
    assert len(seen) - N == BATCH  # the half global batch taken twice: one rank batch of the old run


def test_a_state_without_world_size_resumes_as_before() -> None:
    s = stream(0, 2)
    s.load_state_dict({"epoch": 1, "position": 5})
    assert (s.epoch, s.position) == (1, 5)


@pytest.mark.parametrize("bad", [0, -1, "2", 1.5])
def test_a_bad_world_size_is_refused_naming_it(bad: Any) -> None:
    saved = {"shapes": {"epoch": 0, "position": 1, "world_size": bad}}
    with pytest.raises(OmnivecError, match=r"streams\.shapes\.world_size"):
        _check_streams(saved, {"shapes": None}, Path("train_state.pt"))
