"""The optimizer and its schedule: AdamW over parameter groups (no decay on biases, norms and embeddings;
lookup tables at their own rate; layer-wise decay over the trunk's blocks) and the learning rate at each step
(linear warmup, then cosine decay by steps or by wall time). The engine (:mod:`omnivec.training.engine`) builds
one and applies each group's ``lr_scale`` at every step."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from omnivec.config import TrainConfig


def lr_at(step: int, cfg: TrainConfig, elapsed: float = 0.0) -> float:
    """Linear warmup over ``warmup_steps`` to ``lr``, then cosine decay to ``lr * min_lr_ratio`` at
    ``max_steps`` -- or, with a ``max_seconds`` budget, at whichever of the two ends first."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    if cfg.max_seconds > 0:
        t = max(t, elapsed / cfg.max_seconds)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def layer_of(name: str, depth: int) -> int:
    """The layer-wise-decay layer of a parameter, by name: 0 for encoders and the modality/prefix tokens, i + 1 for
    trunk block i, ``depth + 1`` for everything after the trunk (its final norm, vectorizer, heads)."""
    parts = name.split(".")
    for i, part in enumerate(parts[:-2]):
        if part == "trunk" and parts[i + 1] == "blocks":
            return int(parts[i + 2]) + 1
    if {"encoders", "modality_embed", "cls_token", "meta_tokens"} & set(parts):
        return 0
    return depth + 1


def trunk_depth(model: nn.Module) -> int:
    """Blocks of the shared trunk, read from the parameter names (0 when there is none)."""
    names = [n for n, _ in model.named_parameters()]
    return max((layer_of(n, 0) for n in names if ".blocks." in n and "trunk" in n), default=0)


def param_groups(
    model: nn.Module,
    weight_decay: float,
    embed_lr_scale: float = 1.0,
    layer_decay: float = 1.0,
    by_layer: bool = False,
) -> list[dict[str, Any]]:
    """No decay on biases, norms, embeddings and learned tokens (1-D tensors and *_token/_embed parameters).
    Lookup tables (``nn.Embedding`` weights: text tokens and bigrams) get ``embed_lr_scale`` times the learning
    rate: each row is updated only when its token occurs (fastText trains its n-gram table at a far higher rate
    than its classifier for the same reason). ``layer_decay`` < 1 scales each parameter's rate by
    ``layer_decay ** (depth + 1 - layer_of(name))`` (:attr:`TrainConfig.layer_decay`). Each group's ``lr_scale``
    is applied by the engine at every step. Groups are split by layer when ``layer_decay`` < 1 or ``by_layer``;
    each group then says whether it ``follows_trunk`` (what :attr:`TrainConfig.head_only_steps` trains alone)."""
    tables = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    by_layer = by_layer or layer_decay != 1.0
    depth = trunk_depth(model) if by_layer else 0
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if id(p) in tables:
            kind, decay, scale = "lookup", 0.0, embed_lr_scale
        elif p.ndim < 2 or "token" in name or "embed" in name.split(".")[-1] or "pos_embed" in name:
            kind, decay, scale = "no_decay", 0.0, 1.0
        else:
            kind, decay, scale = "decay", weight_decay, 1.0
        layer = layer_of(name, depth) if by_layer else 0  # one layer: the groups are as they always were
        g = groups.setdefault(
            (kind, layer),
            {"params": [], "weight_decay": decay, "lr_scale": scale * layer_decay ** (depth + 1 - layer)},
        )
        if by_layer:
            g["follows_trunk"] = layer == depth + 1
        g["params"].append(p)
    order = {"decay": 0, "no_decay": 1, "lookup": 2}
    return [groups[k] for k in sorted(groups, key=lambda k: (order[k[0]], k[1]))]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW (betas 0.9/0.95, decoupled decay per :func:`param_groups`), with the fused kernel on CPU and CUDA:
    one kernel per parameter instead of ~10 small ops each (measured: 11.5 -> 4.4 ms per step for the small
    preset's 2.9M parameters on 2 CPU threads; HF's Trainer also defaults to it on torch >= 2.8)."""
    device = next(model.parameters()).device
    fused = device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in model.parameters())
    groups = param_groups(model, cfg.weight_decay, cfg.embed_lr_scale, cfg.layer_decay, cfg.head_only_steps > 0)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), fused=fused or None)
