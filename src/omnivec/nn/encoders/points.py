"""3-D point-cloud encoder (Point-BERT / Point-MAE tokenisation): farthest point sampling picks group centres,
each centre's k nearest neighbours form a local patch, a small PointNet embeds each patch into one token, and a
small MLP of the centre coordinates gives its position.

The patch embedding is PointNet++'s set abstraction (Qi et al. 2017): a shared MLP on every neighbour's offset,
a max over the patch, then an MLP on the pooled vector (``local_mlp: pointnet2``, the default); or Point-BERT's
mini-PointNet, which concatenates the patch's max-pooled feature back onto every point and runs a second MLP per
point before the second max (``pointbert``: about 10x the work of ``pointnet2`` at the same width)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from omnivec.config.encoder import EncoderConfig
from omnivec.errors import OmnivecError
from omnivec.nn.encoders.base import ENCODERS, Encoder
from omnivec.types import EncoderInput, Modality, Tokens


@dataclass
class PointsEncoderConfig(EncoderConfig):
    num_points: int = 256
    """Points per cloud after collate (clouds with more or fewer are resampled deterministically)."""
    num_groups: int = 16
    """Group centres chosen by farthest point sampling: the number of tokens."""
    group_size: int = 32
    """Nearest neighbours per group (num_groups x group_size should cover the cloud about twice)."""
    hidden_dim: int = 64
    """Width of the per-point MLP."""
    augment_rotate: float = 15.0
    """Training augmentation: rotate each cloud about a random axis by up to this many degrees (0: off)."""
    augment_scale: float = 0.1
    """Training augmentation: scale each axis by a random factor in [1 - s, 1 + s] (0: off)."""
    augment_jitter: float = 0.01
    """Training augmentation: Gaussian noise of this standard deviation on every point (0: off)."""
    local_mlp: str = "pointnet2"
    """Patch embedding: pointnet2 (per-point MLP, max, MLP on the pooled vector) or pointbert (global-local
    concat, a second per-point MLP, max)."""


def farthest_point_sample(xyz: Tensor, num: int) -> Tensor:
    """(B, P, 3) -> (B, num) indices; starts from point 0, so the result is deterministic."""
    B, P, _ = xyz.shape
    idx = torch.zeros(B, num, dtype=torch.long, device=xyz.device)
    dist = torch.full((B, P), float("inf"), device=xyz.device)
    last = torch.zeros(B, dtype=torch.long, device=xyz.device)
    batch = torch.arange(B, device=xyz.device)
    for i in range(num):
        idx[:, i] = last
        d = ((xyz - xyz[batch, last][:, None, :]) ** 2).sum(-1)  # (B, P)
        dist = torch.minimum(dist, d)
        last = dist.argmax(-1)
    return idx


def group_points(xyz: Tensor, num_groups: int, group_size: int) -> tuple[Tensor, Tensor]:
    """(B, P, 3) -> centres (B, G, 3) and neighbourhoods relative to their centre (B, G, k, 3)."""
    B = xyz.shape[0]
    batch = torch.arange(B, device=xyz.device)[:, None]
    centres = xyz[batch, farthest_point_sample(xyz, num_groups)]  # (B, G, 3)
    knn = torch.cdist(centres, xyz).topk(group_size, dim=-1, largest=False).indices  # (B, G, k)
    neighbours = xyz[batch[..., None], knn]  # (B, G, k, 3)
    return centres, neighbours - centres[:, :, None, :]


def in_cloud_units(local: Tensor) -> Tensor:
    """Neighbourhood offsets (B, G, k, 3) divided by each cloud's RMS offset: unit scale, relative patch sizes
    kept. What the encoder reads, and the reconstruction targets with ``norm_targets``."""
    return local / local.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp(min=1e-6)


@ENCODERS.register("points_pointnet")
class PointsEncoder(Encoder):
    modality = Modality.POINTS
    Config = PointsEncoderConfig
    default_mask_ratio = 0.6  # Point-MAE
    export_name = "points"
    fixed_size_why = "num_points: collate resamples every cloud to it"

    def __init__(self, cfg: PointsEncoderConfig, embed_dim: int) -> None:
        super().__init__(cfg, embed_dim)
        h = cfg.hidden_dim
        if cfg.local_mlp not in ("pointnet2", "pointbert"):
            raise OmnivecError(f"points encoder: unknown local_mlp {cfg.local_mlp!r}; expected pointnet2 or pointbert")
        self.local1 = nn.Sequential(nn.Linear(6, h), nn.GELU(), nn.Linear(h, 2 * h))
        if cfg.local_mlp == "pointbert":
            self.local2 = nn.Sequential(nn.Linear(4 * h, 4 * h), nn.GELU(), nn.Linear(4 * h, embed_dim))
        else:
            self.local2 = nn.Sequential(nn.LayerNorm(2 * h), nn.Linear(2 * h, embed_dim), nn.GELU())
            self.local2.append(nn.Linear(embed_dim, embed_dim))
        self.pos = nn.Sequential(nn.Linear(3, h), nn.GELU(), nn.Linear(h, embed_dim))

    def _xyz(self, inp: EncoderInput) -> Tensor:
        xyz = self.check(inp, 3, "point clouds (B, P, 3)")
        if xyz.shape[-1] != 3:
            raise OmnivecError(f"points encoder: expected 3 coordinates per point, got {xyz.shape[-1]}")
        if xyz.shape[1] < self.cfg.group_size:
            raise OmnivecError(f"points encoder: {xyz.shape[1]} points < group_size {self.cfg.group_size}")
        return xyz

    def augment(
        self, inp: EncoderInput, g: torch.Generator, dense: Tensor | None = None
    ) -> tuple[EncoderInput, Tensor | None]:
        """PointNet's augmentations: a bounded random rotation, anisotropic scaling and jitter per cloud."""
        cfg = self.cfg
        xyz = self._xyz(inp)
        B = xyz.shape[0]
        if cfg.augment_rotate > 0:
            axis = torch.nn.functional.normalize(torch.randn(B, 3, generator=g), dim=-1)
            angle = (torch.rand(B, generator=g) * 2 - 1) * cfg.augment_rotate * torch.pi / 180
            xyz = xyz @ rotation_matrices(axis, angle).transpose(1, 2)
        if cfg.augment_scale > 0:
            xyz = xyz * (1 + (torch.rand(B, 1, 3, generator=g) * 2 - 1) * cfg.augment_scale)
        if cfg.augment_jitter > 0:
            xyz = xyz + torch.randn(xyz.shape, generator=g) * cfg.augment_jitter
        return inp._replace(data=xyz), dense

    def forward(self, inp: EncoderInput) -> Tokens:
        centres, local = group_points(self._xyz(inp), self.cfg.num_groups, self.cfg.group_size)
        # Neighbour offsets are ~10x smaller than the cloud; scaled to unit RMS per cloud, every patch's shape
        # reaches the MLP at the scale its initialisation expects (relative patch sizes are kept).
        local = in_cloud_units(local)
        # each neighbour as (offset from its centre, the centre): PointNet++'s "use_xyz" grouping, so the patch
        # feature knows where the patch is before it is pooled
        f = self.local1(torch.cat([local, centres[:, :, None].expand_as(local)], dim=-1))  # (B, G, k, 2h)
        if self.cfg.local_mlp == "pointbert":
            g = f.max(dim=2, keepdim=True).values.expand_as(f)  # the patch's global feature beside each point
            x = self.local2(torch.cat([f, g], dim=-1)).max(dim=2).values  # (B, G, D)
        else:
            x = self.local2(f.max(dim=2).values)  # (B, G, D)
        return Tokens(x + self.pos(centres), None, ())

    def patch_targets(self, inp: EncoderInput) -> Tensor:
        _, local = group_points(self._xyz(inp), self.cfg.num_groups, self.cfg.group_size)
        return local.flatten(2)  # (B, G, k*3), compared as sets by a Chamfer loss

    @classmethod
    def read_options(cls, cfg: Any, shape: Sequence[int] = ()) -> dict[str, Any]:
        return {"num_points": int(cfg.num_points)}

    def target_dim(self) -> int:
        return int(self.cfg.group_size * 3)

    def decoder_positions(self, inp: EncoderInput, grid: tuple[int, ...], n: int) -> tuple[Tensor, Any]:
        """The group centres' learned positions; the groups' points are the loss's targets."""
        centres, local = group_points(inp.data, self.cfg.num_groups, self.cfg.group_size)
        return self.pos(centres), local

    def reconstruction_loss(
        self, pred: Tensor, inp: EncoderInput, hidden: Tensor, context: Any, norm_targets: bool
    ) -> tuple[Tensor, dict[str, float]]:
        """Point-MAE: the Chamfer distance between each hidden group's points and their prediction. With
        ``norm_targets`` the groups' offsets are in units of the cloud's RMS offset (as the encoder reads them:
        relative patch sizes kept), so the loss is O(1) like the other modalities' normalised targets; in the raw
        units of a unit-size cloud it is ~0.01, and a mixed pretraining's summed loss all but ignores it
        (docs/recipe.md, "Points")."""
        k = context.shape[2]
        if norm_targets:
            context = in_cloud_units(context)
        cd = chamfer_distance(pred.float().view(*hidden.shape, k, 3), context)  # (B, N)
        loss = (cd * hidden).sum() / hidden.sum().clamp(min=1)
        return loss, {"loss": float(loss.detach())}

    def example_samples(self, shape: Sequence[int] | None, g: torch.Generator) -> list[Any] | None:
        return [torch.randn(self.cfg.num_points, 3, generator=g) for _ in range(3)]

    def collate(self, samples: list[Any]) -> EncoderInput:
        n = self.cfg.num_points
        clouds = []
        for i, s in enumerate(samples):
            p = torch.as_tensor(s, dtype=torch.float32)
            if p.ndim != 2 or p.shape[1] < 3:
                raise OmnivecError(f"point cloud {i}: expected (P, 3), got shape {tuple(p.shape)}")
            p = p[:, :3]
            if p.shape[0] != n:  # evenly spaced (or cyclically repeated) indices: deterministic
                p = (
                    p[torch.linspace(0, p.shape[0] - 1, n).round().long()]
                    if p.shape[0] > n
                    else p[torch.arange(n) % p.shape[0]]
                )
            clouds.append(p)
        return EncoderInput(torch.stack(clouds))


def rotation_matrices(axis: Tensor, angle: Tensor) -> Tensor:
    """Rodrigues' formula: unit axes (B, 3) and angles (B,) in radians -> rotation matrices (B, 3, 3)."""
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).view(-1, 3, 3)  # the cross-product matrix
    s, c = angle.sin()[:, None, None], angle.cos()[:, None, None]
    return torch.eye(3).expand_as(k) + s * k + (1 - c) * (k @ k)


def chamfer_distance(pred: Tensor, target: Tensor) -> Tensor:
    """Symmetric Chamfer distance between point sets (..., k, 3), averaged over points, per set (...)."""
    d = torch.cdist(pred, target) ** 2  # (..., k, k)
    return d.min(dim=-1).values.mean(-1) + d.min(dim=-2).values.mean(-1)


__all__ = [
    "PointsEncoder",
    "chamfer_distance",
    "farthest_point_sample",
    "group_points",
    "in_cloud_units",
    "rotation_matrices",
]
