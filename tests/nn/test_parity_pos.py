"""Parity of the fixed sine-cosine positions (:mod:`omnivec.nn.layers.pos`) with MAE's
(facebookresearch/mae, ``util/pos_embed.py``), written here in numpy from its definition:

- 1-D, width D: ``omega_i = 1 / 10000**(i / (D/2))`` for ``i < D/2``; ``emb(p) = [sin(p*omega), cos(p*omega)]``
  (all sines, then all cosines; not interleaved).
- 2-D, an (H, W) grid, tokens row-major: ``grid = meshgrid(arange(W), arange(H))`` ("w goes first", numpy's
  default ``xy`` indexing), then ``concat(emb_{D/2}(grid[0]), emb_{D/2}(grid[1]))``. With ``xy`` indexing
  ``grid[0]`` holds the column index, so MAE's first half encodes the **column** (w) despite being named
  ``emb_h`` in its code, and the second half the row.

The documented difference: ours gives the first half to axis 0 of the grid (the row, h, for images; the
frequency band for audio) and the second to axis 1 (the column / time), i.e. MAE's two halves swapped. Both
encode the same positions with the same frequencies; only the channel order differs, and a learned patch
embedding absorbs any fixed channel permutation, so it does not matter for models trained here. It would
matter when importing MAE-pretrained weights (their patch embedding was trained against MAE's order): such an
importer must swap the halves of ``sincos_nd(D, (H, W))`` (``permute_to_mae`` below). Changing ours instead
would change the input of every trained image, video, audio and point model, so the order is kept and pinned
here. MAE's ``cls_token=True`` prepends a zero row; our model prepends its cls token after the encoders have added
the positions (``OmniModel.forward_tokens``), so it gets none, which is the same thing.

MAE has no 3-D form; ours extends the 2-D rule (each of the k axes gets ``(D // k) // 2 * 2`` channels, in axis
order, zero-padded up to D), and that is checked against the per-axis 1-D formula.

The reference is float64; ours computes in float64 and returns float32, so values in [-1, 1] agree to float32
rounding (2**-24 ~ 6e-8): atol 1e-6. (MAE's own code runs in float32, whose angle error at position 100 is
~1e-5; the definition is the reference, not its float32 rounding.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnivec.nn.layers.pos import sincos_1d, sincos_nd

ATOL = 1e-6


def mae_1d(dim: int, pos: np.ndarray) -> np.ndarray:
    assert dim % 2 == 0
    omega = 1.0 / 10000.0 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    angle = np.outer(pos.reshape(-1).astype(np.float64), omega)  # (M, D/2)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


def mae_2d(dim: int, h: int, w: int) -> np.ndarray:
    """MAE's get_2d_sincos_pos_embed for an (h, w) grid (MAE's takes one square size; the rule is the same)."""
    grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), axis=0)  # (2, h, w); w first, xy indexing
    return np.concatenate([mae_1d(dim // 2, grid[0]), mae_1d(dim // 2, grid[1])], axis=1)  # (h*w, dim)


def permute_to_mae(ours: np.ndarray) -> np.ndarray:
    """Our 2-D positions in MAE's channel order: swap the two halves."""
    d = ours.shape[-1] // 2
    return np.concatenate([ours[..., d:], ours[..., :d]], axis=-1)


@pytest.mark.parametrize("dim", [8, 64, 66])
def test_1d_matches_mae(dim: int) -> None:
    pos = np.array([0.0, 1.0, 2.0, 7.0, 63.0, 200.0, 3.5])  # fractional positions too
    ours = sincos_1d(dim, torch.tensor(pos)).numpy()
    np.testing.assert_allclose(ours, mae_1d(dim, pos), rtol=0, atol=ATOL)
    # a 1-D grid (the CNN14 audio encoder's time steps) is the same thing
    np.testing.assert_allclose(sincos_nd(dim, (50,)).numpy(), mae_1d(dim, np.arange(50)), rtol=0, atol=ATOL)


@pytest.mark.parametrize(("dim", "h", "w"), [(64, 14, 14), (32, 3, 5), (192, 4, 16)])
def test_2d_matches_mae_up_to_the_documented_half_swap(dim: int, h: int, w: int) -> None:
    ours = sincos_nd(dim, (h, w)).numpy()
    ref = mae_2d(dim, h, w)
    assert ours.shape == ref.shape == (h * w, dim)
    np.testing.assert_allclose(permute_to_mae(ours), ref, rtol=0, atol=ATOL)
    # the swap is real (not a no-op): without it the two differ by O(1)
    assert np.abs(ours - ref).max() > 0.5
    # and it means: our first half follows the row (token n = (n // w, n % w)), MAE's first half the column
    rows, cols = np.divmod(np.arange(h * w), w)
    np.testing.assert_allclose(ours[:, : dim // 2], mae_1d(dim // 2, rows), rtol=0, atol=ATOL)
    np.testing.assert_allclose(ref[:, : dim // 2], mae_1d(dim // 2, cols), rtol=0, atol=ATOL)


@pytest.mark.parametrize(("dim", "grid"), [(96, (2, 3, 4)), (100, (3, 2, 2))])
def test_3d_is_mae_1d_per_axis_in_axis_order(dim: int, grid: tuple[int, int, int]) -> None:
    ours = sincos_nd(dim, grid).numpy()
    share = (dim // 3) // 2 * 2  # 32 for both widths: 100 leaves 4 zero channels
    idx = np.stack(np.unravel_index(np.arange(int(np.prod(grid))), grid), axis=0)  # (3, N) row-major
    ref = np.concatenate([mae_1d(share, idx[a]) for a in range(3)], axis=1)
    ref = np.pad(ref, ((0, 0), (0, dim - ref.shape[1])))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=ATOL)
