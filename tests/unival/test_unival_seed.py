"""The derived UnIVAL data follow the run's seed (``cfg.train.seed``, as the OmniVec catalogue's generated and
derived tasks do): the same seed draws the same examples, another seed other ones. Skipped without the real data."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from data_helpers import real_root
from omnivec.families.unival import derived_tasks
from omnivec.families.unival.config import unival_preset
from omnivec.families.unival.tasks import get_seq2seq_task


def _examples(name: str, seed: int) -> list[Any]:
    derived_tasks._CACHE.clear()  # drawn afresh, not the per-process copy of an earlier build
    cfg = unival_preset("tiny", num_bins=16)
    cfg.data_root, cfg.num_train, cfg.num_test = str(real_root()), 6, 3
    cfg.train.seed = seed
    train, test = get_seq2seq_task(name).build(cfg)
    return [ds[i] for ds in (train, test) for i in range(len(ds))]  # type: ignore[arg-type]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


@pytest.mark.parametrize(
    "name", ["caption_image", "grounding_image", "matching_image", "caption_video", "caption_audio", "summarize_text"]
)
def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    first = _examples(name, 0)
    assert first and _same(first, _examples(name, 0))
    other = _examples(name, 1)
    assert not _same(first, other)
    derived_tasks._CACHE.clear()
