"""Every registered encoder, head and task kind meets its contract -- parametrized over the registries, so one
added without satisfying it (or, for a task kind, without an example here) fails the suite."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from conftest import sample_inputs
from omnivec.config import EncoderConfig, ModelConfig, TaskConfig, from_dict, preset_model, to_dict
from omnivec.data.readers import ReadOptions
from omnivec.errors import OmnivecError
from omnivec.nn.encoders import ENCODERS, build_encoder
from omnivec.nn.encoders.base import Encoder
from omnivec.nn.heads import HEADS
from omnivec.nn.model import OmniModel
from omnivec.tasks import TASK_KINDS, task_kind

D = 32
SHAPES = {"image": (3, 16, 16), "video": (3, 4, 16, 16)}
"""Sample sizes for encoders of fixed-size inputs (their ``example_samples`` need one)."""


def _encoder(name: str, tokenizer) -> Encoder:
    cfg = ENCODERS.get(name).Config()  # its default config
    if ENCODERS.get(name).modality == "text":
        cfg.vocab_size = tokenizer.vocab_size  # type: ignore[attr-defined]
    enc = build_encoder(cfg, D)
    if hasattr(enc, "tokenizer"):
        enc.tokenizer = tokenizer
    return enc.eval()


def _samples(enc: Encoder) -> list:
    g = torch.Generator().manual_seed(0)
    samples = enc.example_samples(None, g)
    if samples is None:
        assert enc.modality in SHAPES, f"{type(enc).__name__}: add a sample size for {enc.modality} to SHAPES"
        shape = list(SHAPES[enc.modality])
        shape[0] = int(getattr(enc.cfg, "in_chans", shape[0]))
        samples = enc.example_samples(shape, g)
    assert samples is not None and len(samples) >= 2
    return samples


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_contract(name: str, tokenizer) -> None:
    enc = _encoder(name, tokenizer)
    cls = type(enc)
    assert isinstance(cls.modality, str) and cls.modality
    assert 0.0 < cls.default_mask_ratio < 1.0
    assert cls.export_name.isidentifier()
    fields = {f.name for f in dataclasses.fields(ReadOptions)}
    assert set(enc.read_options(enc.cfg)) <= fields, f"{name}: read_options names unknown ReadOptions fields"
    inp = enc.collate(_samples(enc))
    tokens = enc(inp)
    B, N, width = tokens.x.shape
    assert width == D and B >= 2 and N >= 1 and torch.isfinite(tokens.x).all()
    assert tokens.pad_mask is None or tuple(tokens.pad_mask.shape) == (B, N)
    if not cls.maskable:  # refused in one clear line, not an AttributeError deep inside
        with pytest.raises(OmnivecError, match="masked pretraining"):
            enc.masked_tokens(inp, cls.default_mask_ratio)
        return
    # masked pretraining: kept tokens, targets of target_dim per token, decoder positions, a finite loss
    m, grid, _ = enc.masked_tokens(inp, cls.default_mask_ratio)
    assert m.kept.shape[0] == B and m.kept.shape[1] < N and m.mask.shape == (B, N)
    pos, context = enc.decoder_positions(inp, grid, N)
    assert pos.shape[-2:] == (N, D)
    pred = torch.randn(B, N, enc.target_dim())
    if cls.modality != "text":
        assert enc.patch_targets(inp).shape == (B, N, enc.target_dim())
    loss, report = enc.reconstruction_loss(pred, inp, m.target, context, True)
    assert loss.ndim == 0 and torch.isfinite(loss) and "loss" in report


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_gradients_reach_every_parameter(name: str, tokenizer) -> None:
    torch.manual_seed(0)
    enc = _encoder(name, tokenizer).train()
    tokens = enc(enc.collate(_samples(enc)))
    tokens.x.square().mean().backward()
    for pname, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}: no gradient reached {pname}"
        if enc.modality != "text":  # unused vocabulary rows of a text table legitimately get zero gradient
            assert p.grad.abs().sum() > 0, f"{name}: zero gradient for {pname}"


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_config_round_trips(name: str) -> None:
    cls = ENCODERS.get(name).Config
    assert issubclass(cls, EncoderConfig) and cls.name == name  # registering named its config
    default = cls()
    assert default.to_dict() == {"name": name}  # nothing but the name differs from the defaults
    assert from_dict(EncoderConfig, default.to_dict()) == default
    # every field given, in reverse order: read back equal, written back in the order read
    spec = {f.name: getattr(default, f.name) for f in reversed(dataclasses.fields(cls))} | {"name": name}
    cfg = from_dict(EncoderConfig, spec)
    assert type(cfg) is cls and cfg == default and list(cfg.to_dict()) == list(spec)
    assert to_dict(from_dict(ModelConfig, {"encoders": {"m": spec}})) == to_dict(ModelConfig(encoders={"m": cfg}))


KIND_EXAMPLES = {
    "classification": ("image", {"num_classes": 3}, lambda g: [0, 1, 2]),
    "segmentation": ("image", {"num_classes": 4}, lambda g: [torch.randint(0, 4, (16, 16), generator=g)] * 3),
    "retrieval": ("audio", {"pair_modality": "image"}, lambda g: list(zip(sample_inputs(1)["image"], [0, 1, 0]))),
}
"""One task per task kind: its modality, config fields and targets for the three samples of that modality."""


@pytest.mark.parametrize("kind", TASK_KINDS.names())
def test_task_kind_contract(kind: str, tokenizer) -> None:
    assert kind in HEADS, f"task kind {kind!r} has no head registered under its name"
    assert kind in KIND_EXAMPLES, f"task kind {kind!r}: add an example task to KIND_EXAMPLES"
    modality, fields, targets = KIND_EXAMPLES[kind]
    torch.manual_seed(0)
    cfg = preset_model("tiny")
    cfg.encoders["text"].vocab_size = tokenizer.vocab_size
    model = OmniModel(cfg, tokenizer)
    task = TaskConfig("t", kind, modality, **fields)
    if task.num_classes:
        task.class_names = [f"c{i}" for i in range(task.num_classes)]
    model.add_task(task)
    items = list(zip(sample_inputs(0)[modality], targets(torch.Generator().manual_seed(0))))
    impl = task_kind(kind)
    batch = impl.collate(model, task, items)
    out = impl.forward(model, task, batch)
    loss, logs = impl.loss(out, batch[1])
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None for p in model.heads["t"].parameters())
    metric = impl.metric(task)
    metric.update(out, batch[1])
    values = metric.compute()
    assert impl.primary_metric in values and 0.0 <= values[impl.primary_metric] <= 1.0
    assert len(model.predict("t", [x for x, _ in items])) == len(items)  # the kind's prediction format
    assert 0.0 <= impl.chance(task, [t for _, t in items]) <= 1.0


def test_constructors_leave_the_given_config_as_it_was(tokenizer) -> None:
    from omnivec.families.unival.config import unival_preset
    from omnivec.families.unival.model import UnivalModel

    cfg = preset_model("tiny")
    cfg.encoders["text"].vocab_size = tokenizer.vocab_size
    cfg.tasks = [TaskConfig("t", "classification", "image", num_classes=2, class_names=["a", "b"])]
    before = to_dict(cfg)
    model = OmniModel(cfg, tokenizer)
    model.add_task(TaskConfig("u", "classification", "audio", num_classes=2, class_names=["a", "b"]))
    assert to_dict(cfg) == before and [t.name for t in model.cfg.tasks] == ["t", "u"]
    ucfg = unival_preset("tiny", num_bins=8).model
    before = to_dict(ucfg)
    uni = UnivalModel(ucfg, UnivalModel.train_tokenizer(["a b c d"] * 20, 300, 8))
    assert to_dict(ucfg) == before
    assert uni.cfg.backbone.encoders["text"].vocab_size == uni.tokenizer.vocab_size
