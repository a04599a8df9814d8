"""Grounded captioning (``region_image``: a box as four location tokens in the prompt -> the phrase of the digit
in it) and the sincos start of the location-token embeddings."""

from __future__ import annotations

import pytest
import torch

from data_helpers import real_root
from omnivec.errors import OmnivecError
from omnivec.families.unival.config import unival_preset
from omnivec.families.unival.derived_tasks import _scenes
from omnivec.families.unival.model import UnivalModel
from omnivec.families.unival.tasks import get_seq2seq_task
from omnivec.tasks.locations import parse_bins

NUM_BINS = 64


def test_region_examples_name_the_digit_inside_their_box() -> None:
    cfg = unival_preset("tiny", num_bins=NUM_BINS)
    cfg.data_root, cfg.num_train, cfg.num_test = str(real_root()), 12, 6
    task = get_seq2seq_task("region_image")
    train, _ = task.build(cfg)
    scenes = _scenes(lambda s: s, cfg).train
    objects = [(s, o) for s in scenes for o in s.objects]
    assert len(train) == len(objects) >= 24  # every object of every scene (2-4 per scene)
    for i in range(len(train)):
        raw, answer, ref = train[i]
        scene, obj = objects[i]
        prompt, image = task.prompt_and_sample(raw)
        assert prompt.startswith(" what does the region describe? region: ")
        bins = parse_bins(prompt.split("region: ")[1])
        assert len(bins) == 4
        box = [b / (NUM_BINS - 1) * 64 for b in bins]  # back to pixels of the 64 x 64 canvas
        assert all(abs(a - b) <= 1.0 for a, b in zip(box, obj.box))
        assert answer == ref == f"{'an' if obj.name == '8' else 'a'} {obj.name}"
        assert torch.equal(image, scene.image)


def model(bin_init: str) -> UnivalModel:
    torch.manual_seed(0)
    cfg = unival_preset("tiny", num_bins=NUM_BINS)
    cfg.model.bin_init = bin_init
    return UnivalModel(cfg.model, UnivalModel.train_tokenizer(["a 7 at the top", "the 7"] * 5, 300, NUM_BINS))


def test_sincos_bins_start_smooth_at_the_tables_scale() -> None:
    m = model("sincos")
    table = m.backbone.encoders["text"].token_embed.weight.detach()
    bins = table[m.bin_ids]
    sim = torch.nn.functional.cosine_similarity(bins[:, None], bins[None], dim=-1)
    assert (sim.diagonal(1) > 0.9).all()  # neighbouring bins start alike
    assert sim[0, -1] < sim[0, 1] - 0.2 and sim[10, 50] < sim[10, 11]
    others = torch.ones(len(table), dtype=torch.bool)
    others[m.bin_ids] = False
    assert bins.std() == pytest.approx(table[others].std().item(), rel=0.2)
    rand = model("random")
    rb = rand.backbone.encoders["text"].token_embed.weight.detach()[rand.bin_ids]
    assert torch.nn.functional.cosine_similarity(rb[:-1], rb[1:], dim=-1).abs().mean() < 0.3


def test_unknown_bin_init_is_refused() -> None:
    with pytest.raises(OmnivecError, match="bin_init"):
        model("learned")
