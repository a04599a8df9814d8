"""What the image and video encoders share: normalise pixels, pad to whole tokens, embed with a stem, add fixed
sine-cosine positions for whatever grid the input has.

Stems (``cfg.stem``):

- ``cnn`` (the default): early convolutions (:class:`~omnivec.nn.layers.convstem.ConvStem`), a few 3x3 conv stages
  down to one position per token. It learns from few samples like a small CNN (docs/learning.md measures it), hands
  its stage maps to dense heads as skips, and stays leak-free under masking (every stage is masked); masked
  pretraining computes it at the kept tokens only (:meth:`ConvStem.forward_kept`).
- ``linear`` (ViT/MAE) and ``hmlp`` (Touvron et al. 2022): every token is a function of its own patch only, so
  masked pretraining embeds just the kept patches (:meth:`PatchEncoder.embed_kept`), a quarter of the stem's work
  at mask ratio 0.75.
- ``conv``: the overlapping stride-2 stem of Xiao et al. without masking support (kept for old run folders).

Positions (``cfg.pos_embed``, images only): fixed sine-cosine for any grid (the default), or a learned table of
``cfg.pos_grid`` (an imported ViT/ViT-MAE's), resized bicubically for other grids as transformers'
``interpolate_pos_encoding`` does.

Inputs whose spatial sides are not multiples of the token size are padded (edge values, centred) up to the next
multiple; ``Tokens.size`` keeps the original size so a dense head crops back to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.errors import OmnivecError
from omnivec.nn.encoders.base import Encoder
from omnivec.nn.layers.convstem import ConvStem
from omnivec.nn.layers.patch import patchify
from omnivec.nn.layers.pos import sincos_nd
from omnivec.nn.layers.stem import patch_stem
from omnivec.nn.masking import Masked, random_masking, sample_mask
from omnivec.types import EncoderInput, Tokens

PER_PATCH_STEMS = ("linear", "hmlp")

LUMA = (0.299, 0.587, 0.114)
"""RGB -> gray weights (ITU-R BT.601, as Pillow's ``convert("L")``)."""


def match_channels(x: Tensor, in_chans: int, modality: str) -> Tensor:
    """One raw sample (C, ...) made fit for an encoder of ``in_chans`` channels: RGB becomes gray by luma weights
    when the encoder is 1-channel; gray is kept as is (the encoder repeats it to ``in_chans`` itself); any other
    channel count is an error naming what the encoder takes."""
    c = x.shape[0]
    if c == in_chans or c == 1:
        return x
    if c == 3 and in_chans == 1:
        w = torch.tensor(LUMA, dtype=x.dtype, device=x.device)
        return torch.tensordot(w, x, dims=([0], [0]))[None]
    takes = sorted({in_chans, 1, 3} if in_chans in (1, 3) else {in_chans, 1})
    raise OmnivecError(
        f"{modality} encoder (in_chans={in_chans}): a sample has {c} channels in shape {tuple(x.shape)}; expected "
        f"{' or '.join(map(str, takes))} channels (1 = gray, 3 = RGB) first"
    )


def shift_batch(x: Tensor, shifts: list[list[int]], pad: int) -> Tensor:
    """Translate each sample of (B, C, ..., H, W) by its (dy, dx) in ``shifts`` (|d| <= pad), filling in edge
    values; integer tensors (class maps) keep their dtype."""
    H, W = x.shape[-2:]
    lead = x.shape[2:-2]
    flat = x.reshape(x.shape[0], -1, H, W)
    as_float = flat if flat.is_floating_point() else flat.float()
    padded = F.pad(as_float, (pad, pad, pad, pad), mode="replicate")
    out = torch.stack(
        [padded[i, :, pad + dy : pad + dy + H, pad + dx : pad + dx + W] for i, (dy, dx) in enumerate(shifts)]
    )
    return out.to(x.dtype).reshape(x.shape[0], x.shape[1], *lead, H, W)


class PatchEncoder(Encoder):
    """Subclasses set ``patch`` (the token shape over the spatial axes) before calling :meth:`build_stem`, and
    ``input_desc`` (what the input tensor is, for errors)."""

    patch: tuple[int, ...]
    input_desc: str
    stem: nn.Module
    pos_table: nn.Parameter | None
    """Learned positions (``cfg.pos_embed: learned``), (1, prod(pos_grid), D); None: sine-cosine."""
    stem_entry: tuple[int, ...] = ()
    """cnn stem: the non-overlapping entry conv's kernel = stride per axis (empty: a 3x3 conv at full size)."""

    def build_stem(self) -> None:
        self.pos_table = None
        if getattr(self.cfg, "pos_embed", "sincos") == "learned":
            grid = tuple(self.cfg.pos_grid)
            if len(grid) != len(self.patch):
                raise OmnivecError(f"{self.modality} encoder: pos_grid {list(grid)} needs {len(self.patch)} sides")
            self.pos_table = nn.Parameter(torch.zeros(1, math.prod(grid), self.embed_dim))
            nn.init.normal_(self.pos_table, std=0.02)
        elif getattr(self.cfg, "pos_embed", "sincos") != "sincos":
            raise OmnivecError(
                f"{self.modality} encoder: unknown pos_embed {self.cfg.pos_embed!r}; expected sincos or learned"
            )
        if self.cfg.stem == "cnn":
            self.stem = ConvStem(
                self.cfg.in_chans,
                self.embed_dim,
                self.patch,
                self.cfg.stem_width,
                self.stem_entry,
                getattr(self.cfg, "stem_norm", "layer"),
            )
        else:
            self.proj = patch_stem(self.cfg.stem, self.cfg.in_chans, self.embed_dim, self.patch)

    takes_shape = True

    def target_dim(self) -> int:
        return math.prod(self.patch) * int(self.cfg.in_chans)

    def example_samples(self, shape: Sequence[int] | None, g: torch.Generator) -> list[Any] | None:
        return None if shape is None else [torch.rand(*shape, generator=g) for _ in range(3)]

    @classmethod
    def read_options(cls, cfg: Any, shape: Sequence[int] = ()) -> dict[str, Any]:
        """Files are decoded to the channels this encoder takes (gray or RGB)."""
        return {"channels": int(cfg.in_chans)} if cfg.in_chans in (1, 3) else {}

    def _input(self, inp: EncoderInput, expand: bool = True) -> Tensor:
        """The validated (B, C, *S) float input; 1-channel input is repeated to ``in_chans`` when ``expand``
        (the cnn stem takes it unexpanded and sums its first filters over channels instead: same numbers, a
        third of the first layer's work)."""
        x = self.check(inp, len(self.patch) + 2, self.input_desc)
        if x.shape[1] != self.cfg.in_chans:
            if x.shape[1] != 1:
                raise OmnivecError(f"{self.modality} encoder: expected {self.cfg.in_chans} channels, got {x.shape[1]}")
            if expand:
                x = x.expand(-1, self.cfg.in_chans, *x.shape[2:])
        return x

    def _padded(self, inp: EncoderInput, expand: bool = True) -> tuple[Tensor, tuple[int, ...]]:
        """The input padded (edge values, centred) to whole tokens, and its spatial size before padding."""
        x = self._input(inp, expand)
        size = tuple(x.shape[2:])
        extra = [math.ceil(s / p) * p - s for s, p in zip(size, self.patch)]
        if not any(extra):
            return x, ()
        pads = [v for e in reversed(extra) for v in (e // 2, e - e // 2)]  # F.pad lists the last axis first
        return F.pad(x, pads, mode="replicate"), size

    def augment(
        self, inp: EncoderInput, g: torch.Generator, dense: Tensor | None = None
    ) -> tuple[EncoderInput, Tensor | None]:
        """Random translation by up to ``augment_shift`` pixels along each image axis (edge values fill in),
        the same shift for every frame of a clip and for a dense target."""
        s = int(getattr(self.cfg, "augment_shift", 0))
        if s <= 0:
            return inp, dense
        x = inp.data
        B = x.shape[0]
        shifts = torch.randint(-s, s + 1, (B, 2), generator=g).tolist()
        return inp._replace(data=shift_batch(x, shifts, s)), (
            shift_batch(dense[:, None], shifts, s)[:, 0] if dense is not None else None
        )

    def _normalised(self, x: Tensor) -> Tensor:
        """(x - mean) / std, with one value for all channels or one per channel (an imported ViT's)."""
        mean, std = self.cfg.mean, self.cfg.std
        if isinstance(mean, list) or isinstance(std, list):
            shape = (1, -1) + (1,) * (x.ndim - 2)
            return (x - torch.tensor(mean, dtype=x.dtype, device=x.device).view(shape)) / torch.tensor(
                std, dtype=x.dtype, device=x.device
            ).view(shape)
        return (x - mean) / std

    def positions(self, grid: tuple[int, ...], device: torch.device) -> Tensor:
        """(N, D) positions of a row-major token grid: sine-cosine, or the learned table (resized bicubically
        when the grid differs from ``pos_grid``)."""
        table = getattr(self, "pos_table", None)  # encoders without build_stem (the CNNs) have none
        if table is None:
            return sincos_nd(self.embed_dim, grid, device)
        own = tuple(self.cfg.pos_grid)
        if grid == own:
            return table[0]
        if len(grid) != 2:
            raise OmnivecError(f"{self.modality} encoder: learned positions of grid {list(own)} got grid {list(grid)}")
        square = table.reshape(1, *own, -1).permute(0, 3, 1, 2)  # (1, D, h, w)
        square = F.interpolate(square, size=grid, mode="bicubic", align_corners=False)
        return square.permute(0, 2, 3, 1).reshape(-1, self.embed_dim)  # (N, D)

    def forward(self, inp: EncoderInput) -> Tokens:
        if self.cfg.stem == "cnn":
            x, size = self._padded(inp, expand=False)
            fmap, skips = self.stem(self._normalised(x))
            return self.to_tokens(fmap)._replace(skips=tuple(skips), size=size)
        x, size = self._padded(inp)
        return self.to_tokens(self.proj(self._normalised(x)))._replace(size=size)

    def to_tokens(self, x: Tensor) -> Tokens:
        """(B, D, *grid) feature map -> row-major tokens with sine-cosine positions."""
        grid = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)  # (B, N, D)
        return Tokens(x + self.positions(grid, x.device), None, grid)

    def patch_targets(self, inp: EncoderInput) -> Tensor:
        return patchify(self._padded(inp)[0], self.patch)  # (B, N, prod(patch) * C)

    def token_grid(self, inp: EncoderInput) -> tuple[int, ...]:
        return tuple(math.ceil(s / p) for s, p in zip(self._input(inp).shape[2:], self.patch))

    def masked_tokens(
        self, inp: EncoderInput, ratio: float, own_patch: bool = False
    ) -> tuple[Masked, tuple[int, ...], Tensor | None]:
        """The kept tokens of a random mask, computed so that no kept token depends on a hidden pixel: per-patch
        stems embed only the kept patches; the cnn stem masks every stage, so a kept token also reads its kept
        neighbours, or with ``own_patch`` embeds each kept patch alone (its neighbours read as hidden: a quarter
        of the stem's work at mask ratio 0.75, docs/recipe.md); the overlapping ``conv`` stem is not leak-free
        and gathers after embedding everything (documented)."""
        grid = self.token_grid(inp)
        B = inp.data.shape[0]
        if self.cfg.stem in PER_PATCH_STEMS or (own_patch and self.cfg.stem == "cnn"):
            m = sample_mask(B, math.prod(grid), ratio, None, inp.data.device)
            return m._replace(kept=self.embed_kept(inp, m.ids_keep)), grid, None
        if self.cfg.stem == "cnn":  # the masked stem computed at the kept tokens only (ConvStem.forward_kept)
            m = sample_mask(B, math.prod(grid), ratio, None, inp.data.device)
            x = self._normalised(self._padded(inp, expand=False)[0])
            assert isinstance(self.stem, ConvStem)
            kept = self.stem.forward_kept(x, m.ids_keep) + self.positions(grid, x.device)[m.ids_keep]
            return m._replace(kept=kept), grid, None
        tokens = self(inp)
        return random_masking(tokens.x, ratio, tokens.pad_mask), tokens.grid, tokens.pad_mask

    def embed_kept(self, inp: EncoderInput, ids_keep: Tensor) -> Tensor:
        """(B, K, D) tokens of the patches at ``ids_keep`` (B, K), each patch embedded as a tiny input of its own.
        For per-patch stems this equals ``forward(inp).x`` gathered there; for the cnn stem it equals the masked
        stem's tokens when each kept token's neighbours are hidden (the stem's convolutions read zeros past the
        patch, as they read a hidden neighbour)."""
        cnn = self.cfg.stem == "cnn"
        x = self._normalised(self._padded(inp, expand=not cnn)[0])
        C = x.shape[1]
        grid = tuple(s // p for s, p in zip(x.shape[2:], self.patch))
        patches = patchify(x, self.patch)  # (B, N, prod(patch) * C), values ordered (patch axes..., C)
        B, K = ids_keep.shape
        kept = patches.gather(1, ids_keep[..., None].expand(-1, -1, patches.shape[-1]))
        kept = kept.reshape(B * K, *self.patch, C).movedim(-1, 1)  # each kept patch as a tiny input
        y = (self.stem(kept)[0] if cnn else self.proj(kept)).reshape(B, K, self.embed_dim)
        pos = self.positions(grid, x.device)  # (N, D)
        return y + pos[ids_keep]
