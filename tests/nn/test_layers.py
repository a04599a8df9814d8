"""Hand-checkable pieces: patchify round trips, masked pooling, positions, the stem's locality."""

from __future__ import annotations

import pytest
import torch

from omnivec.nn.layers.patch import patchify, unpatchify
from omnivec.nn.layers.pos import sincos_nd
from omnivec.nn.layers.stem import patch_stem
from omnivec.nn.vectorizer import Vectorizer, masked_mean


@pytest.mark.parametrize(
    ("shape", "patch"), [((2, 3, 8, 12), (4, 4)), ((1, 2, 4, 8, 8), (2, 4, 4)), ((2, 1, 32, 12), (8, 4))]
)
def test_unpatchify_inverts_patchify(shape: tuple[int, ...], patch: tuple[int, ...]) -> None:
    x = torch.randn(shape)
    tokens = patchify(x, patch)
    grid = tuple(s // p for s, p in zip(shape[2:], patch))
    assert tokens.shape == (
        shape[0],
        int(torch.tensor(grid).prod()),
        int(torch.tensor(patch).prod()) * shape[1],
    )
    assert torch.equal(unpatchify(tokens, patch, grid, shape[1]), x)


def test_patchify_orders_tokens_row_major_and_pixels_within_patch() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    tokens = patchify(x, (2, 2))
    assert tokens[0, 0].tolist() == [0, 1, 4, 5]  # top-left patch
    assert tokens[0, 1].tolist() == [2, 3, 6, 7]  # top-right patch
    assert tokens[0, 3].tolist() == [10, 11, 14, 15]


def test_patchify_rejects_indivisible_sizes() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        patchify(torch.zeros(1, 1, 5, 4), (2, 2))


def test_masked_mean_equals_hand_computation() -> None:
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[0.0, 0.0], [2.0, 2.0], [4.0, 8.0]]])
    pad = torch.tensor([[False, False, True], [False, False, False]])
    out = masked_mean(x, pad)
    assert torch.allclose(out, torch.tensor([[2.0, 3.0], [2.0, 10.0 / 3.0]]))


def test_vectorizer_modes_ignore_padding_and_prefix() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)
    pad = torch.tensor([[False, False, False, True, True], [False] * 5])
    mean = Vectorizer("mean", 8)(x, pad, num_prefix=1)
    assert torch.allclose(mean[0], x[0, 1:3].mean(0))
    assert torch.equal(Vectorizer("cls", 8)(x, pad, 1), x[:, 0])
    attn = Vectorizer("attn", 8)
    changed = x.clone()
    changed[0, 3:] = 1e3  # padded tokens must not matter
    assert torch.allclose(attn(x, pad, 1), attn(changed, pad, 1))


def test_sincos_positions_depend_on_index_not_grid_size() -> None:
    a = sincos_nd(16, (2, 3))
    b = sincos_nd(16, (2, 5))
    assert torch.equal(a.reshape(2, 3, 16), b.reshape(2, 5, 16)[:, :3])


@pytest.mark.parametrize("patch", [(4, 4), (2, 8, 8)])
def test_hmlp_stem_keeps_patches_independent(patch: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    stem = patch_stem("hmlp", 3, 32, patch)
    x = torch.randn(1, 3, *[2 * p for p in patch])
    y = stem(x)
    assert y.shape == (1, 32, *[2] * len(patch))
    x2 = x.clone()
    x2[(..., *[slice(0, p) for p in patch])] += 5.0  # change only the first patch
    y2 = stem(x2)
    first = (..., *[0] * len(patch))
    assert not torch.allclose(y[first], y2[first])
    rest = y2 - y
    rest[first] = 0
    assert rest.abs().max() < 1e-6
