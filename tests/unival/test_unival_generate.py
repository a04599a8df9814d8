"""Generation on raw inputs through ``UnivalModel.generate`` and ``omnivec generate``: RGB images and videos into
the UnIVAL presets' 1-channel encoders, and grounding answers as pixel boxes (tiny untrained runs, no data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data_helpers import write_mp4
from omnivec.cli import main
from omnivec.config import EncoderConfig, from_dict
from omnivec.data.readers import read_image
from omnivec.data.readers.video import read_video
from omnivec.errors import OmnivecError
from omnivec.families.unival.config import unival_preset
from omnivec.families.unival.model import UnivalModel, load_unival, save_unival
from omnivec.nn.encoders.base import build_encoder
from omnivec.tasks.locations import Grounding, tokens_to_pixel_box

TEXTS = ["a 7 at the top", "the 7", "what does the video describe?", "what does the image describe?"] * 5
LUMA = torch.tensor([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "run"
    torch.manual_seed(0)
    cfg = unival_preset("tiny", num_bins=8)
    save_unival(UnivalModel(cfg.model, UnivalModel.train_tokenizer(TEXTS, 300, 8)), cfg, out)
    return out


def _rgb_mp4(path: Path) -> Path:
    rng = np.random.default_rng(0)
    frames = np.zeros((6, 32, 32, 3), np.uint8)
    frames[..., 0] = 200  # strongly coloured, so the gray value is not just any channel
    frames[..., 1] = (rng.random((6, 32, 32)) * 255).astype(np.uint8)
    return write_mp4(path, frames)


def _rgb_png(path: Path, width: int = 40, height: int = 30) -> Path:
    arr = (np.random.default_rng(1).random((height, width, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr, "RGB").save(path)
    return path


@pytest.mark.parametrize(
    ("spec", "sample"),
    [
        ({"name": "image_patch", "in_chans": 1, "patch_size": 8, "stem": "hmlp"}, torch.rand(3, 16, 16)),
        ({"name": "video_tubelet", "in_chans": 1, "patch_size": 8, "tubelet_size": 2}, torch.rand(3, 4, 16, 16)),
        ({"name": "image_resnet", "in_chans": 1, "width": 8}, torch.rand(3, 16, 16)),
        ({"name": "video_conv3d", "in_chans": 1, "width": 8}, torch.rand(3, 4, 16, 16)),
    ],
)
def test_one_channel_encoders_take_rgb_as_luma(spec: dict, sample: torch.Tensor) -> None:
    enc = build_encoder(from_dict(EncoderConfig, spec), 32)
    gray = torch.tensordot(LUMA, sample, dims=([0], [0]))[None]
    batch = enc.collate([sample, gray])  # RGB and gray in one batch
    assert batch.data.shape == (2, 1, *sample.shape[1:])
    assert torch.allclose(batch.data[0], gray, atol=1e-6) and torch.equal(batch.data[1], gray)
    assert enc(batch).x.shape[0] == 2
    with pytest.raises(OmnivecError, match=r"2 channels.*expected 1 or 3 channels"):
        enc.collate([sample[:2]])


def test_three_channel_encoder_repeats_gray_and_rejects_other_counts() -> None:
    enc = build_encoder(from_dict(EncoderConfig, {"name": "image_patch", "in_chans": 3, "patch_size": 8}), 32)
    rgb, gray = torch.rand(3, 16, 16), torch.rand(1, 16, 16)
    batch = enc.collate([rgb, gray])
    assert batch.data.shape == (2, 3, 16, 16) and torch.equal(batch.data[1], gray.expand(3, -1, -1))
    with pytest.raises(OmnivecError, match=r"in_chans=3.*4 channels.*expected 1 or 3"):
        enc.collate([torch.rand(4, 16, 16)])


def test_caption_rgb_video_and_image_from_python_and_cli(run: Path, tmp_path: Path) -> None:
    mp4, png = _rgb_mp4(tmp_path / "clip.mp4"), _rgb_png(tmp_path / "pic.png")
    model, _ = load_unival(run)
    clip = read_video(mp4, num_frames=8, size=64)
    assert clip.shape[0] == 3  # the reader gives RGB; the encoder expects gray
    from_python = model.generate("caption_video", [clip], max_len=5)
    assert len(from_python) == 1 and isinstance(from_python[0], str)
    image = read_image(png, size=64)  # RGB (3, 64, 64) tensor into the 1-channel image encoder
    assert image.shape[0] == 3
    (caption,) = model.generate("caption_image", [image], max_len=5)  # the values: the collate test above
    assert isinstance(caption, str)

    out = tmp_path / "out.jsonl"
    argv = ["generate", str(run), "--task", "caption", "--input", str(mp4), str(png), "--max-len", "5"]
    assert main([*argv, "--out", str(out)]) == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["task"] for r in recs] == ["caption_video", "caption_image"]
    assert recs[0]["output"] == from_python[0]  # the CLI reads the same clip and converts it the same way


def test_grounding_returns_pixel_boxes_from_python(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = load_unival(run)
    image = torch.rand(1, 35, 70)  # height 35, width 70
    out = model.generate("grounding_image", [(image, "the 7")])
    assert len(out) == 1 and isinstance(out[0], Grounding)
    assert out[0].text.count("<bin_") == 4  # constrained decoding: always four location tokens
    assert out[0].box == pytest.approx(tokens_to_pixel_box(out[0].text, 70, 35, 8))

    # a known answer: bins 1 2 5 6 of 8 are 1/7, 2/7, 5/7, 6/7 of the width / height
    b = model.bin_ids
    monkeypatch.setattr(model, "generate_ids", lambda *a, **k: [[b[1], b[2], b[5], b[6]], [b[3], b[4]]])
    known, short = model.generate("grounding_image", [(image, "the 7"), (torch.rand(3, 35, 70), "the 3")])
    assert known.text == "<bin_1><bin_2><bin_5><bin_6>"
    assert known.box == pytest.approx((10.0, 10.0, 50.0, 30.0))
    assert short == Grounding("<bin_3><bin_4>", None)  # fewer than four bins: no box, no crash
    assert model.generate("caption_image", [image], max_len=3)[0].__class__ is str  # other tasks: text


def test_grounding_box_in_the_cli_jsonl(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    png = _rgb_png(tmp_path / "wide.png", width=70, height=35)  # resized to 64 x 64 for the model
    out = tmp_path / "g.jsonl"
    argv = ["generate", str(run), "--task", "grounding", "--text", "the 7", "--input", str(png)]
    assert main([*argv, "--out", str(out)]) == 0
    (rec,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert rec["output"].count("<bin_") == 4
    assert rec["box"] == pytest.approx(list(tokens_to_pixel_box(rec["output"], 70, 35, 8)))  # the file's pixels

    def fake(self: UnivalModel, *a: object, **k: object) -> list[list[int]]:
        return [[self.bin_ids[1], self.bin_ids[2], self.bin_ids[5], self.bin_ids[6]], [self.bin_ids[2]]]

    monkeypatch.setattr(UnivalModel, "generate_ids", fake)
    other = _rgb_png(tmp_path / "other.png", width=70, height=35)
    assert main([*argv, str(other), "--out", str(out)]) == 0
    known, bad = [json.loads(line) for line in out.read_text().splitlines()]
    assert known["output"] == "<bin_1><bin_2><bin_5><bin_6>" and known["box"] == pytest.approx([10, 10, 50, 30])
    assert bad["output"] == "<bin_2>" and bad["box"] is None  # malformed: JSON null
