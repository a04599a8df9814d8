"""Layer-wise learning-rate decay (TrainConfig.layer_decay): every parameter learns at the rate its layer is
documented to get, and 1.0 leaves the optimizer's groups exactly as they were."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from omnivec.config import TaskConfig, preset
from omnivec.nn.model import OmniModel
from omnivec.training.optim import layer_of, lr_at, make_optimizer, param_groups


def model_with_head() -> OmniModel:
    torch.manual_seed(0)
    model = OmniModel(preset("cpu").model)  # depth 4
    model.add_task(TaskConfig(name="digits", kind="classification", modality="image", num_classes=10))
    return model


def rate_of(groups: list[dict], p: nn.Parameter) -> float:
    (scale,) = [g["lr_scale"] for g in groups if any(q is p for q in g["params"])]
    return scale


@pytest.mark.parametrize(
    ("name", "layer"),
    [
        ("encoders.image.stem.stages.0.weight", 0),
        ("modality_embed.image", 0),
        ("cls_token", 0),
        ("trunk.blocks.0.attn.qkv.weight", 1),
        ("trunk.blocks.3.mlp.fc2.bias", 4),
        ("trunk.norm.weight", 5),
        ("heads.digits.fc.weight", 5),
        ("omni.trunk.blocks.2.norm1.weight", 3),  # inside a wrapper (the pretraining objective's model)
    ],
)
def test_layer_of(name: str, layer: int) -> None:
    assert layer_of(name, 4) == layer


def test_every_parameter_gets_its_documented_rate() -> None:
    model = model_with_head()
    d = 0.75
    groups = param_groups(model, 0.05, embed_lr_scale=5.0, layer_decay=d)
    depth = len(model.trunk.blocks)
    assert depth == 4
    tables = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    seen = 0
    for name, p in model.named_parameters():
        if name.startswith(("encoders.", "modality_embed.", "cls_token", "meta_tokens")):
            want = d ** (depth + 1)
        elif name.startswith("trunk.blocks."):
            want = d ** (depth - int(name.split(".")[2]))
        else:  # trunk.norm, vectorizer, heads
            want = 1.0
        if id(p) in tables:
            want *= 5.0
        assert rate_of(groups, p) == pytest.approx(want), name
        seen += 1
    assert seen == sum(len(g["params"]) for g in groups)  # every trainable parameter is in exactly one group


def test_the_engine_applies_the_rates() -> None:
    cfg = preset("cpu").train
    cfg.layer_decay = 0.5
    model = model_with_head()
    opt = make_optimizer(model, cfg)
    lr = lr_at(200, cfg)
    for g in opt.param_groups:  # what Engine.fit does at every step
        g["lr"] = lr * g["lr_scale"]
    head = model.heads["digits"]
    first_block = model.trunk.blocks[0]
    head_p, block_p = next(head.parameters()), next(first_block.parameters())
    (head_lr,) = [g["lr"] for g in opt.param_groups if any(q is head_p for q in g["params"])]
    (block_lr,) = [g["lr"] for g in opt.param_groups if any(q is block_p for q in g["params"])]
    assert head_lr == pytest.approx(lr)
    assert block_lr == pytest.approx(lr * 0.5**4)


def test_no_decay_keeps_the_three_groups() -> None:
    model = model_with_head()
    groups = param_groups(model, 0.05, embed_lr_scale=5.0)
    assert [(g["weight_decay"], g["lr_scale"]) for g in groups] == [(0.05, 1.0), (0.0, 1.0), (0.0, 5.0)]


def test_layer_decay_outside_its_range_is_refused() -> None:
    from omnivec.config import TrainConfig, from_dict
    from omnivec.errors import OmnivecError

    with pytest.raises(OmnivecError, match="layer_decay"):
        from_dict(TrainConfig, {"layer_decay": 1.5})


def _train_tiny(out: Path, head_only: int, lr: float) -> dict[str, torch.Tensor]:
    from omnivec.api.train import train
    from omnivec.training import checkpoint as ckpt

    cfg = preset("tiny")
    cfg.num_train, cfg.num_test, cfg.tasks = 16, 8, ["shapes"]
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.warmup_steps = 2, 4, 1
    cfg.train.head_only_steps, cfg.train.lr = head_only, lr
    train(cfg, out, progress=False)
    return ckpt.load_weights(out / ckpt.WEIGHTS)


def test_head_only_steps_leave_the_encoders_and_trunk_untouched(tmp_path: Path) -> None:
    """LP-FT: two runs that differ only in lr train different heads but leave the trunk and encoders exactly at
    their (same, seeded) initial weights while the heads learn alone; without the head-only phase they move."""
    a = _train_tiny(tmp_path / "a", head_only=2, lr=1e-3)
    b = _train_tiny(tmp_path / "b", head_only=2, lr=5e-3)
    c = _train_tiny(tmp_path / "c", head_only=0, lr=1e-3)
    body = [k for k in a if k.startswith(("trunk.blocks.", "encoders."))]
    heads = [k for k in a if k.startswith("heads.")]
    assert body and heads
    assert all(torch.equal(a[k], b[k]) for k in body)
    assert any(not torch.equal(a[k], b[k]) for k in heads)
    assert any(not torch.equal(a[k], c[k]) for k in body)
