"""Masked pretraining: reconstruction loss falls on a fixed tiny batch (each modality's target), and the
pretrain
command writes a run folder that fine-tuning starts from."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from omnivec.config import preset
from omnivec.data.synthetic import make_splits
from omnivec.model import OmniModel
from omnivec.pretrain import MaskedAutoencoder, PretrainConfig, pretrain


def _overfit(modality: str, samples: list, steps: int = 40) -> tuple[float, float]:
    torch.manual_seed(0)
    model = OmniModel(preset("tiny").model)
    mae = MaskedAutoencoder(model, PretrainConfig())
    inp = model.collate(modality, samples)
    opt = torch.optim.AdamW(mae.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        torch.manual_seed(123)  # the same mask every step: a fixed batch to overfit
        loss, _ = mae.loss(modality, inp, 0.75 if modality != "points" else 0.6)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses[0], min(losses[-5:])


def test_image_reconstruction_overfits() -> None:
    g = torch.Generator().manual_seed(0)
    first, last = _overfit("image", [torch.rand(3, 16, 16, generator=g) for _ in range(4)])
    assert last < 0.6 * first, (first, last)


def test_points_chamfer_overfits() -> None:
    g = torch.Generator().manual_seed(0)
    first, last = _overfit("points", [torch.randn(256, 3, generator=g) for _ in range(2)])
    assert last < 0.6 * first, (first, last)


def test_pretrain_run_folder(tmp_path: Path) -> None:
    cfg = preset("tiny")
    cfg.num_train, cfg.num_test = 16, 8
    cfg.tasks = ["shapes", "tones"]
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.log_every = 3, 4, 1
    s = pretrain(cfg, tmp_path / "pt", progress=False)
    assert s["steps"] == 3
    log = [json.loads(line) for line in (tmp_path / "pt" / "metrics.jsonl").read_text().splitlines()]
    assert [r["tasks"] for r in log] == ["shapes,tones"] * 3  # both modalities in every step
    assert {"shapes/loss", "tones/loss"} <= set(log[0])
    for f in ("config.yaml", "model.safetensors", "decoder.safetensors", "pretrain.yaml", "train_state.pt"):
        assert (tmp_path / "pt" / f).is_file(), f


def test_generated_audio_is_padded_and_masked() -> None:
    """Tones have different lengths, so their spectrogram tokens are padded: loss must stay finite."""
    torch.manual_seed(0)
    splits = make_splits("tones", 6, 2, 0, sample_rate=8000)
    model = OmniModel(preset("tiny").model)
    mae = MaskedAutoencoder(model, PretrainConfig())
    inp = model.collate("audio", [splits.train[i][0] for i in range(6)])
    loss, _logs = mae.loss("audio", inp, 0.8)
    assert torch.isfinite(loss)
