"""``encoder_init``: a UnIVAL model's modality encoders start from an OmniVec run folder's (UnIVAL's encoders
are pretrained before the multimodal pretraining), and a source that fits nothing is refused."""

from __future__ import annotations

import pytest
import torch

from omnivec.config import EncoderConfig, from_dict, preset
from omnivec.errors import OmnivecError
from omnivec.families.unival.config import unival_preset
from omnivec.families.unival.model import UnivalModel
from omnivec.families.unival.train import init_encoders
from omnivec.nn.model import OmniModel
from omnivec.runs import load_run, save_run


def unival_model() -> UnivalModel:
    cfg = unival_preset("tiny", num_bins=8)
    texts = ["a 7 at the top", "the 7", "what does the image describe?", "yes no"] * 5
    return UnivalModel(cfg.model, UnivalModel.train_tokenizer(texts, 300, 8))


def omnivec_run(tmp_path, image: dict) -> str:
    torch.manual_seed(1)
    cfg = preset("tiny")
    cfg.model.encoders = {"image": from_dict(EncoderConfig, image)}
    cfg.model.tasks = []
    model = OmniModel(cfg.model)
    out = tmp_path / "enc"
    save_run(model, cfg, out)
    return str(out)


def test_the_image_encoder_is_copied_and_nothing_else(tmp_path) -> None:
    model = unival_model()
    image = model.cfg.backbone.encoders["image"].to_dict()
    source = omnivec_run(tmp_path, image)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    logs: list[str] = []
    assert init_encoders(model, source, logs.append) == ["image"]
    src, _ = load_run(source)
    theirs = src.encoders["image"].state_dict()
    ours = model.backbone.encoders["image"].state_dict()
    assert theirs and all(torch.equal(ours[k], v) for k, v in theirs.items())
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("backbone.encoders.image.") for k in changed)
    assert "image" in logs[0] and source in logs[0]


def test_a_source_whose_encoders_do_not_fit_is_refused_naming_the_mismatch(tmp_path) -> None:
    model = unival_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    source = omnivec_run(tmp_path, {**model.cfg.backbone.encoders["image"].to_dict(), "stem_width": 16})
    with pytest.raises(OmnivecError, match=r"encoders do not fit this model.*shape mismatch"):
        init_encoders(model, source)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # nothing half-copied
