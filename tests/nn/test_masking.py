"""random_masking keeps exactly round((1-r)·n) valid tokens per sample, never keeps padding, and ratio 0
is the
unmasked forward."""

from __future__ import annotations

import pytest
import torch

from omnivec.config import preset
from omnivec.nn.masking import random_masking, unshuffle
from omnivec.nn.model import OmniModel


@pytest.mark.parametrize("N,r", [(16, 0.75), (64, 0.75), (10, 0.9), (32, 0.6), (7, 0.15), (5, 0.5)])
def test_keeps_exact_count(N: int, r: float) -> None:
    x = torch.randn(4, N, 8)
    m = random_masking(x, r, generator=torch.Generator().manual_seed(0))
    K = max(1, round((1 - r) * N))
    assert m.kept.shape == (4, K, 8)
    assert m.kept_pad is None
    assert m.mask.sum(1).tolist() == [N - K] * 4
    assert torch.equal(m.target, m.mask)
    # the kept tokens are the rows named by ids_keep, in their original order
    assert torch.equal(m.kept, torch.stack([x[b, m.ids_keep[b]] for b in range(4)]))
    assert bool((m.ids_keep[:, 1:] > m.ids_keep[:, :-1]).all())
    # ids_restore undoes the kept-first order
    full = unshuffle(m.kept, torch.full((8,), 7.0), m.ids_restore)
    assert torch.equal(full[~m.mask], x[~m.mask])
    assert bool((full[m.mask] == 7.0).all())


def test_padded_sequences() -> None:
    x = torch.randn(3, 12, 4)
    lengths = torch.tensor([12, 8, 3])
    pad = torch.arange(12)[None, :] >= lengths[:, None]
    m = random_masking(x, 0.75, pad, generator=torch.Generator().manual_seed(1))
    expect = [round(0.25 * n) or 1 for n in lengths.tolist()]  # 3, 2, 1
    assert m.kept.shape[1] == max(expect)
    kept_valid = (~m.kept_pad).sum(1).tolist() if m.kept_pad is not None else [m.kept.shape[1]] * 3
    assert kept_valid == expect
    for b in range(3):
        real = m.ids_keep[b][~m.kept_pad[b]] if m.kept_pad is not None else m.ids_keep[b]
        assert bool((real < lengths[b]).all()), "padding must never be a visible token"
    assert m.target.sum(1).tolist() == [n - k for n, k in zip(lengths.tolist(), expect)]
    assert not bool((m.target & pad).any()), "padding is never a reconstruction target"
    assert sorted(m.ids_restore[1].tolist()) == list(range(12))


def test_ratio_zero_equals_unmasked_forward() -> None:
    torch.manual_seed(0)
    cfg = preset("tiny").model
    model = OmniModel(cfg).eval()
    inp = model.collate("image", [torch.rand(3, 16, 16) for _ in range(2)])
    with torch.no_grad():
        ref = model.forward_features("image", inp)
        tokens = model.encode("image", inp)
        m = random_masking(tokens.x, 0.0, tokens.pad_mask)
        got = model.forward_tokens("image", tokens._replace(x=m.kept, pad_mask=m.kept_pad))
    assert m.kept.shape == tokens.x.shape
    assert torch.equal(got.x, ref.x)


def test_bad_ratio() -> None:
    with pytest.raises(ValueError):
        random_masking(torch.zeros(1, 4, 2), 1.0)
