"""Training-time augmentation: every modality's is seeded (one generator in, the same batch out), changes the
input, keeps its shape, moves a segmentation mask with its image; the training stream applies it, evaluation
never does; a supervised run with augmentation on resumes bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import sample_inputs, tiny_model
from omnivec.api.train import make_augment, train
from omnivec.config import preset
from omnivec.data.stream import BatchStream
from omnivec.nn.model import OmniModel
from omnivec.tasks import task_kind
from omnivec.training import checkpoint as ckpt
from omnivec.training.engine import Engine

MODALITIES = ["image", "video", "audio", "text", "points"]


@pytest.fixture
def aug_model(tokenizer) -> OmniModel:  # type: ignore[no-untyped-def]
    model = tiny_model(tokenizer)
    model.encoder("text").cfg.token_dropout = 0.3  # off by default; on here so text augmentation is exercised
    return model


def _data(x: object) -> torch.Tensor:
    return x.data if hasattr(x, "data") else x  # type: ignore[union-attr,return-value]


@pytest.mark.parametrize("modality", MODALITIES)
def test_augmentation_is_seeded_changes_the_input_and_keeps_its_shape(aug_model: OmniModel, modality: str) -> None:
    enc = aug_model.encoder(modality)
    inp = enc.collate(sample_inputs()[modality])

    def draw(seed: int) -> torch.Tensor:
        out, _ = enc.augment(inp, torch.Generator().manual_seed(seed))
        return _data(out)

    a, b, c = draw(0), draw(0), draw(1)
    assert a.shape == inp.data.shape and a.dtype == inp.data.dtype
    assert torch.equal(a, b), f"{modality}: the same generator seed gave different augmentations"
    assert not torch.equal(a, inp.data), f"{modality}: augmentation changed nothing"
    assert not torch.equal(a, c), f"{modality}: two seeds gave the same augmentation"


def test_segmentation_mask_moves_with_its_image(aug_model: OmniModel) -> None:
    enc = aug_model.encoder("image")
    img = torch.zeros(4, 3, 16, 16)
    img[:, :, 5:9, 6:11] = 1.0  # an object away from the border: edge filling cannot add or remove any of it
    mask = (img[:, 0] > 0.5).long()
    out, moved = enc.augment(enc.collate(list(img)), torch.Generator().manual_seed(3), mask)
    assert moved is not None and moved.dtype == torch.long
    assert not torch.equal(moved, mask), "no sample was shifted"
    assert torch.equal(moved, (_data(out)[:, 0] > 0.5).long())


def test_retrieval_augments_both_sides(aug_model: OmniModel) -> None:
    cfg = aug_model.task("ret")
    inputs = sample_inputs()
    items = list(zip(inputs["audio"], [(im, i) for i, im in enumerate(inputs["image"])]))
    kind = task_kind(cfg.kind)
    batch = kind.collate(aug_model, cfg, items)
    out = kind.augment(aug_model, cfg, batch, torch.Generator().manual_seed(0))
    (a, b), (a0, b0) = out[0], batch[0]
    assert not torch.equal(_data(a), _data(a0)), "the audio side was not augmented"
    assert not torch.equal(_data(b), _data(b0)), "the image side was not augmented"


def test_the_training_stream_augments_by_seed_epoch_and_position(aug_model: OmniModel) -> None:
    cfg = aug_model.task("cls_image")
    kind = task_kind(cfg.kind)
    items = [(im, i % 3) for i, im in enumerate(sample_inputs()["image"] * 4)]

    def stream(augment: bool) -> BatchStream:
        return BatchStream(
            items,  # type: ignore[arg-type]
            4,
            seed=7,
            collate=lambda xs: kind.collate(aug_model, cfg, xs),
            augment=make_augment(aug_model, cfg) if augment else None,
        )

    s1, s2, plain = stream(True), stream(True), stream(False)
    b1 = [_data(next(s1)[0]) for _ in range(4)]
    b2 = [_data(next(s2)[0]) for _ in range(4)]
    b0 = [_data(next(plain)[0]) for _ in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(b1, b2))
    assert any(not torch.equal(x, y) for x, y in zip(b1, b0))
    s3 = stream(True)  # 3 batches per epoch: resumed at epoch 1's first, it draws what the uninterrupted one did
    s3.load_state_dict({"epoch": 1, "position": 0})
    assert torch.equal(_data(next(s3)[0]), b1[3])
    aug_model.cfg.augment = False
    assert make_augment(aug_model, cfg) is None


def _tiny_run_cfg():  # type: ignore[no-untyped-def]
    cfg = preset("tiny")
    cfg.num_train, cfg.num_test = 24, 12
    cfg.tasks = ["shapes", "scenes", "tones", "solids"]
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.checkpoint_every, cfg.train.log_every = 6, 4, 2, 1
    assert cfg.model.augment
    return cfg


@pytest.mark.slow
def test_evaluation_never_augments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aug_model: OmniModel) -> None:
    calls = {"n": 0}

    def counted(original):  # type: ignore[no-untyped-def]
        def augment(self, *a, **k):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            return original(self, *a, **k)

        return augment

    for cls in {type(aug_model.encoder(m)) for m in MODALITIES}:
        monkeypatch.setattr(cls, "augment", counted(cls.augment))
    from omnivec.api import train as train_mod

    evaluate = train_mod.evaluate_tasks
    seen: dict[str, int] = {}

    def watched(*a, **k):  # type: ignore[no-untyped-def]
        seen["before"] = calls["n"]
        out = evaluate(*a, **k)
        seen["after"] = calls["n"]
        return out

    monkeypatch.setattr(train_mod, "evaluate_tasks", watched)
    train(_tiny_run_cfg(), tmp_path / "run", progress=False)
    assert seen["before"] > 0, "training never augmented"
    assert seen["after"] == seen["before"], "evaluation called an encoder's augment"


class _Stop(Exception):
    pass


@pytest.mark.slow
def test_supervised_resume_with_augmentation_is_bit_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train(_tiny_run_cfg(), tmp_path / "full", progress=False)
    save = Engine.save_checkpoint

    def stop_at_4(self: Engine) -> None:
        save(self)
        if self.state.step == 4:
            raise _Stop

    monkeypatch.setattr(Engine, "save_checkpoint", stop_at_4)
    with pytest.raises(_Stop):
        train(_tiny_run_cfg(), tmp_path / "cut", progress=False)
    monkeypatch.setattr(Engine, "save_checkpoint", save)
    train(_tiny_run_cfg(), tmp_path / "cut", resume=True, progress=False)
    full = ckpt.load_weights(tmp_path / "full" / ckpt.WEIGHTS)
    cut = ckpt.load_weights(tmp_path / "cut" / ckpt.WEIGHTS)
    assert full.keys() == cut.keys()
    for k in full:
        assert torch.equal(full[k], cut[k]), f"{k} differs after resume"
