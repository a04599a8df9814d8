"""Every head: shapes, gradients reach every parameter, no NaN (every registered encoder: test_registered.py); a
padded batch equals its samples one by one; the API (embed, predict) and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import sample_inputs, tiny_model
from omnivec.errors import OmnivecError
from omnivec.nn.heads import HEADS
from omnivec.nn.model import OmniModel
from omnivec.tasks import task_kind
from omnivec.types import EncoderInput


@pytest.mark.parametrize("task", ["cls_image", "cls_video", "cls_audio", "cls_text", "cls_points", "seg", "ret"])
def test_heads_shapes_and_gradients_reach_every_parameter(model: OmniModel, task: str) -> None:
    cfg = model.task(task)
    kind = task_kind(cfg.kind)
    inputs = sample_inputs()
    if cfg.kind == "retrieval":
        items = list(zip(inputs["audio"], [(im, i % 2) for i, im in enumerate(inputs["image"])]))
    elif cfg.kind == "segmentation":
        items = [(im, torch.randint(0, 4, (16, 16))) for im in inputs["image"]]
    else:
        items = [(s, i % 3) for i, s in enumerate(inputs[cfg.modality])]
    batch = kind.collate(model, cfg, items)
    out = kind.forward(model, cfg, batch)
    if cfg.kind == "classification":
        assert out.logits.shape == (3, 3)
    elif cfg.kind == "segmentation":
        assert out.logits.shape == (3, 4, 16, 16)
    else:
        assert out[0].embedding.shape[0] == 3
        assert torch.allclose(out[0].embedding.norm(dim=-1), torch.ones(3))
    loss, logs = kind.loss(out, batch[1])
    assert torch.isfinite(loss)
    loss.backward()
    for pname, p in model.heads[task].named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{task}: zero gradient for {pname}"
    for pname, p in model.trunk.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{task}: no gradient reached trunk {pname}"


def test_every_head_kind_has_a_task_kind() -> None:
    for kind in HEADS.names():
        task_kind(kind)


@pytest.mark.parametrize("vectorizer", ["cls", "mean", "attn"])
@pytest.mark.parametrize("modality", ["audio", "text"])
def test_padded_batch_equals_samples_one_by_one(tokenizer, vectorizer: str, modality: str) -> None:
    model = tiny_model(tokenizer, vectorizer=vectorizer, num_meta_tokens=2).eval()
    samples = sample_inputs()[modality]
    batched = model.embed(modality, samples)
    alone = torch.cat([model.embed(modality, [s]) for s in samples])
    assert torch.allclose(batched, alone, atol=1e-5), (batched - alone).abs().max()
    batch = model.collate(modality, samples)
    assert batch.lengths is not None and len(set(batch.lengths.tolist())) > 1  # the batch really is padded


def test_padding_content_does_not_leak(model: OmniModel) -> None:
    model.eval()
    batch = model.collate("audio", sample_inputs()["audio"])
    noisy = batch.data.clone()
    for i, n in enumerate(batch.lengths.tolist()):
        noisy[i, n:] = 7.0
    a = model.embed("audio", batch)
    b = model.embed("audio", EncoderInput(noisy, batch.lengths))
    assert torch.allclose(a, b, atol=1e-5)


def test_embed_and_predict_api(model: OmniModel) -> None:
    vecs = model.embed("points", sample_inputs()["points"])
    assert vecs.shape == (3, model.cfg.embed_dim)
    preds = model.predict("cls_text", ["red cat", "blue dog"])
    assert all(p in ("a", "b", "c") for p in preds)
    masks = model.predict("seg", sample_inputs()["image"][:2])
    assert masks[0].shape == (16, 16) and masks[0].dtype == torch.long


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m.embed("image", torch.rand(2, 5, 16, 16)), "expected 3 channels"),
        (lambda m: m.embed("image", torch.rand(3, 16, 16)), r"expected images \(B, C, H, W\)"),
        (lambda m: m.embed("image", torch.zeros(2, 3, 16, 16, dtype=torch.long)), "floating-point"),
        (lambda m: m.embed("smell", [1]), "no 'smell' encoder"),
        (lambda m: m.predict("nope", [1]), "unknown task 'nope'"),
        (lambda m: m.embed("text", [3]), "expected a string"),
        (lambda m: m.embed("audio", [torch.zeros(2, 2, 2)]), "mono waveform"),
        (lambda m: m.embed("points", [torch.zeros(10, 2)]), r"expected \(P, 3\)"),
    ],
)
def test_bad_input_gives_clear_error(model: OmniModel, call, match: str) -> None:
    with pytest.raises(OmnivecError, match=match):
        call(model)


def test_meta_tokens_and_modality_embedding_are_per_modality(tokenizer) -> None:
    model = tiny_model(tokenizer, num_meta_tokens=3)
    assert model.num_prefix == 4
    assert set(model.meta_tokens) == {"image", "video", "audio", "text", "points"}
    feats = model.forward_features("image", model.collate("image", sample_inputs()["image"]))
    assert feats.x.shape[1] == 4 + 4  # cls + 3 meta + (16/8)^2 tokens


def test_a_class_map_comes_back_at_its_input_s_size(model: OmniModel, tmp_path: Path) -> None:
    """A file read at the run's size (resized) gets its class map at the file's own size: the logits resized
    bilinearly, then the argmax; ``sizes`` names another size, None keeps the model's."""
    import torch.nn.functional as F
    from PIL import Image

    model.task("seg").input_shape = [3, 16, 16]  # trained on 16 x 16 samples: files are read at that size
    path = tmp_path / "tall.png"
    Image.fromarray((np.random.default_rng(0).random((40, 24, 3)) * 255).astype(np.uint8)).save(path)
    (native,) = model.predict("seg", [path], sizes=[None])
    (mask,) = model.predict("seg", [path])
    assert native.shape != (40, 24) and mask.shape == (40, 24) and mask.dtype == torch.long
    model.eval()
    with torch.no_grad():
        logits = model("seg", model._as_input("image", [path], "seg")).logits
    expected = F.interpolate(logits, size=(40, 24), mode="bilinear", align_corners=False).argmax(1)[0]
    assert torch.equal(mask, expected)
    (other,) = model.predict("seg", [path], sizes=[(8, 12)])
    assert other.shape == (8, 12)
