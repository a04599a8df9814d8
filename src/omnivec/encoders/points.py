"""3-D point-cloud encoder (Point-BERT / Point-MAE style): farthest point sampling picks group centres, each
centre's k nearest neighbours form a local patch, a mini-PointNet embeds each patch into one token, and a small
MLP of the centre coordinates gives its position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from omnivec.encoders.base import ENCODERS, Encoder
from omnivec.errors import OmnivecError
from omnivec.types import EncoderInput, Modality, Tokens


@dataclass
class PointsEncoderConfig:
    num_points: int = 256
    """Points per cloud after collate (clouds with more or fewer are resampled deterministically)."""
    num_groups: int = 32
    """Group centres chosen by farthest point sampling: the number of tokens."""
    group_size: int = 16
    """Nearest neighbours per group."""
    hidden_dim: int = 128
    """Width of the mini-PointNet."""


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


@ENCODERS.register("points_pointnet")
class PointsEncoder(Encoder):
    modality = Modality.POINTS
    Config = PointsEncoderConfig

    def __init__(self, cfg: PointsEncoderConfig, embed_dim: int) -> None:
        super().__init__(cfg, embed_dim)
        h = cfg.hidden_dim
        self.local1 = nn.Sequential(nn.Linear(3, h), nn.GELU(), nn.Linear(h, 2 * h))
        self.local2 = nn.Sequential(nn.Linear(4 * h, 4 * h), nn.GELU(), nn.Linear(4 * h, embed_dim))
        self.pos = nn.Sequential(nn.Linear(3, h), nn.GELU(), nn.Linear(h, embed_dim))

    def _xyz(self, inp: EncoderInput) -> Tensor:
        xyz = self.check(inp, 3, "point clouds (B, P, 3)")
        if xyz.shape[-1] != 3:
            raise OmnivecError(f"points encoder: expected 3 coordinates per point, got {xyz.shape[-1]}")
        if xyz.shape[1] < self.cfg.group_size:
            raise OmnivecError(f"points encoder: {xyz.shape[1]} points < group_size {self.cfg.group_size}")
        return xyz

    def forward(self, inp: EncoderInput) -> Tokens:
        centres, local = group_points(self._xyz(inp), self.cfg.num_groups, self.cfg.group_size)
        f = self.local1(local)  # (B, G, k, 2h)
        g = f.max(dim=2, keepdim=True).values.expand_as(f)  # the patch's global feature beside each point
        x = self.local2(torch.cat([f, g], dim=-1)).max(dim=2).values  # (B, G, D)
        return Tokens(x + self.pos(centres), None, ())

    def patch_targets(self, inp: EncoderInput) -> Tensor:
        _, local = group_points(self._xyz(inp), self.cfg.num_groups, self.cfg.group_size)
        return local.flatten(2)  # (B, G, k*3), compared as sets by a Chamfer loss

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


def chamfer_distance(pred: Tensor, target: Tensor) -> Tensor:
    """Symmetric Chamfer distance between point sets (..., k, 3), averaged over points, per set (...)."""
    d = torch.cdist(pred, target) ** 2  # (..., k, k)
    return d.min(dim=-1).values.mean(-1) + d.min(dim=-2).values.mean(-1)


__all__ = ["PointsEncoder", "chamfer_distance", "farthest_point_sample", "group_points"]
