"""The UnIVAL encoder-decoder: one vocabulary with location tokens, tied embeddings, prompt ++ modality tokens
as the memory, learning (overfit two examples), constrained grounding output, run-folder round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omnivec.families.unival.config import unival_preset
from omnivec.families.unival.model import UnivalModel, load_unival, save_unival
from omnivec.families.unival.prompts import caption_prompt, grounding_prompt
from omnivec.tasks.locations import parse_bins
from omnivec.tasks.seq2seq import Seq2SeqKind
from omnivec.training import checkpoint as ckpt

TEXTS = ["a 7 at the top and a 3 at the bottom", "a 1 at the left", "the 7", "what does the image describe?"]


def tiny(num_bins: int = 8, seed: int = 0) -> tuple[UnivalModel, object]:
    torch.manual_seed(seed)
    cfg = unival_preset("tiny", num_bins=num_bins)
    tok = UnivalModel.train_tokenizer(TEXTS * 5, 300, num_bins)
    return UnivalModel(cfg.model, tok), cfg


def test_one_vocabulary_with_location_tokens_and_tied_embedding() -> None:
    model, _ = tiny(num_bins=12)
    V = model.tokenizer.vocab_size
    assert model.decoder.vocab_size == V
    assert model.backbone.encoders["text"].cfg.vocab_size == V  # type: ignore[union-attr]
    assert model.decoder.embed is model.backbone.encoders["text"].token_embed
    assert len(set(model.bin_ids)) == 12
    # a bin token inside a text round-trips through encode -> decode
    ids = model.tokenizer.encode("<bin_3><bin_11> the 7")
    assert model.bin_ids[3] in ids and model.bin_ids[11] in ids
    assert model.decode(ids) == "<bin_3><bin_11>the 7"


def test_memory_is_prompt_then_modality_tokens() -> None:
    model, _ = tiny()
    batch = model.collate("image", [" a", " what does the image describe?"], [torch.rand(1, 64, 64)] * 2)
    memory, pad = model.encode("image", batch)
    Lp = batch.prompt.data.shape[1]
    assert memory.shape == (2, Lp + (64 // 8) ** 2, 64)
    assert pad is not None and pad.shape == memory.shape[:2]
    assert bool(pad[0, 1:Lp].all()) and not bool(pad[:, Lp:].any())  # the short prompt is padded, pixels never


def _overfit(
    model: UnivalModel,
    modality: str,
    prompts: list[str],
    samples: list[torch.Tensor],
    answers: list[str],
    steps: int = 80,
) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.cfg.label_smoothing = 0.0
    batch = model.collate(modality, prompts, samples, answers)
    model.train()
    for _ in range(steps):
        loss, _ = Seq2SeqKind().loss(model.teacher_forced(modality, batch), batch.target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.1


@pytest.mark.slow
def test_learns_captions_and_generates_them() -> None:
    model, _ = tiny()
    imgs = [torch.zeros(1, 64, 64), torch.ones(1, 64, 64)]
    answers = ["a 7 at the top and a 3 at the bottom", "a 1 at the left"]
    _overfit(model, "image", [caption_prompt()] * 2, imgs, answers)
    assert model.generate("caption_image", imgs) == answers
    assert model.generate("caption_image", imgs, beam=3) == answers


@pytest.mark.slow
def test_grounding_emits_exactly_four_location_tokens() -> None:
    model, _ = tiny(num_bins=8)
    imgs = [torch.zeros(1, 64, 64), torch.ones(1, 64, 64)]
    answers = ["<bin_1><bin_2><bin_5><bin_6>", "<bin_0><bin_0><bin_7><bin_3>"]
    _overfit(model, "image", [grounding_prompt("the 7")] * 2, imgs, answers)
    out = model.generate("grounding_image", [(im, "the 7") for im in imgs])
    assert [g.text for g in out] == answers  # type: ignore[union-attr]
    # ... and as boxes in pixels of the 64 x 64 input: bin i of 8 is i / 7 of the side
    assert out[0].box == pytest.approx(tuple(64 * i / 7 for i in (1, 2, 5, 6)))  # type: ignore[union-attr]
    # even an untrained model only produces four bins for grounding
    fresh, _ = tiny(num_bins=8, seed=1)
    for g in fresh.generate("grounding_image", [(imgs[0], "the 3")], beam=2):
        assert len(parse_bins(g.text)) == 4  # type: ignore[union-attr]  # parse_bins raises on non-bin tokens


def test_run_folder_round_trip(tmp_path: Path) -> None:
    model, cfg = tiny()
    save_unival(model, cfg, tmp_path)  # type: ignore[arg-type]
    state = ckpt.load_weights(tmp_path / ckpt.WEIGHTS)
    assert "decoder.embed.weight" not in state  # the tied matrix is stored once
    loaded, _ = load_unival(tmp_path)
    assert loaded.decoder.embed is loaded.backbone.encoders["text"].token_embed
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    img = [torch.rand(1, 64, 64)]
    assert loaded.generate("caption_image", img) == model.generate("caption_image", img)


def test_video_files_are_read_as_the_video_encoder_config_says() -> None:
    model, cfg = tiny()
    # a config that names neither field (every run folder written before they existed) reads 8 frames of 64 x 64
    assert {"num_frames": 8, "video_size": 64}.items() <= model.read_options("video").items()
    video = cfg.model.backbone.encoders["video"]
    video.num_frames, video.frame_size = 4, 32
    wider = UnivalModel(cfg.model, model.tokenizer)
    assert {"num_frames": 4, "video_size": 32}.items() <= wider.read_options("video").items()
    assert "num_frames" in video.to_dict()  # a field set is written to the run's config.yaml
