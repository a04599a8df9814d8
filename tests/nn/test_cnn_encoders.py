"""UnIVAL's CNN encoders: token shapes, padding masks, gradients to every parameter, registry/config use."""

from __future__ import annotations

import torch

from omnivec.config import EncoderConfig, from_dict
from omnivec.nn.encoders import ENCODERS, build_encoder
from omnivec.types import EncoderInput

D = 24


def _all_params_get_grad(enc: torch.nn.Module, x: torch.Tensor) -> None:
    x.sum().backward()
    missing = [n for n, p in enc.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, missing


def test_registered() -> None:
    for name in ("image_resnet", "video_conv3d", "audio_cnn14"):
        assert name in ENCODERS.names()


def test_image_resnet_shapes_and_grads() -> None:
    enc = build_encoder(from_dict(EncoderConfig, {"name": "image_resnet", "in_chans": 3, "width": 8, "stages": 2}), D)
    inp = enc.collate([torch.rand(1, 64, 32), torch.rand(1, 64, 32)])  # gray repeated to 3 channels
    tok = enc(inp)
    assert tok.x.shape == (2, 8 * 4, D)  # total stride 8
    assert tok.grid == (8, 4) and tok.pad_mask is None
    _all_params_get_grad(enc, tok.x)


def test_image_resnet_pads_an_indivisible_size_to_whole_tokens() -> None:
    enc = build_encoder(from_dict(EncoderConfig, {"name": "image_resnet", "in_chans": 1, "stages": 2}), D)
    tok = enc(EncoderInput(torch.rand(1, 1, 30, 32)))
    assert tok.grid == (4, 4) and tok.size == (30, 32)  # 30 -> 32 (edge-padded), then stride 8


def test_video_conv3d_shapes_and_grads() -> None:
    enc = build_encoder(from_dict(EncoderConfig, {"name": "video_conv3d", "in_chans": 1, "width": 4, "stages": 2}), D)
    tok = enc(enc.collate([torch.rand(1, 8, 32, 32)] * 2))
    assert tok.x.shape == (2, 2 * 4 * 4, D)  # time / 4, space / 8
    assert tok.grid == (2, 4, 4)
    _all_params_get_grad(enc, tok.x)


def test_audio_cnn14_shapes_masks_and_grads() -> None:
    enc = build_encoder(from_dict(EncoderConfig, {"name": "audio_cnn14", "width": 4, "blocks": 3, "n_mels": 32}), D)
    inp = enc.collate([torch.randn(8000), torch.randn(2000)])
    tok = enc(inp)
    frames = (inp.data.shape[1] - 256) // 80 + 1
    assert tok.x.shape == (2, frames // 8, D)
    assert tok.pad_mask is not None
    assert not tok.pad_mask[0].any()  # the full-length clip is all valid
    valid = int((~tok.pad_mask[1]).sum())
    assert valid == ((2000 - 256) // 80 + 1) // 8  # the short clip: its own frames only
    _all_params_get_grad(enc, tok.x[~tok.pad_mask])


def test_cnn_encoders_in_a_unival_model() -> None:
    from omnivec.families.unival.config import cnn_encoders, unival_preset
    from omnivec.families.unival.model import UnivalModel
    from omnivec.tasks.seq2seq import Seq2SeqKind

    cfg = unival_preset("tiny", num_bins=8)
    cfg.model.backbone.encoders.update(cnn_encoders())
    tok = UnivalModel.train_tokenizer(["the digit seven", "what does the image describe?"], 300, 8)
    model = UnivalModel(cfg.model, tok)
    for modality, sample in (
        ("image", torch.rand(1, 64, 64)),
        ("video", torch.rand(1, 8, 64, 64)),
        ("audio", torch.randn(4000)),
    ):
        batch = model.collate(modality, [" what?"] * 2, [sample] * 2, ["the digit seven"] * 2)
        loss, _ = Seq2SeqKind().loss(model.teacher_forced(modality, batch), batch.target)
        assert torch.isfinite(loss)
