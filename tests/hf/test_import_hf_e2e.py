"""After ``omnivec import``, a converted checkpoint is an ordinary run: each tiny model trains a few steps from
it (``train --init``, ``finetune RUN``, ``unival finetune RUN``), is saved, loaded, embeds, and exports to ONNX."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import omnivec
from data_helpers import real_root
from hf_helpers import TEXTS, ast_folder, bart_folder, bert_folder, vit_folder, waveforms
from omnivec.cli import main

pytestmark = pytest.mark.slow  # each imported model trains and exports end to end (make test-slow)

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")

SMALL = ["--num-train", "16", "--num-test", "8", "--batch-size", "4", "--quiet", "--device", "cpu"]


def imported(src: Path, tmp_path: Path, *extra: str) -> Path:
    run = tmp_path / "imported"
    assert main(["import", str(src), "--out", str(run), *extra]) == 0
    return run


def exported_onnx(run: Path, modality: str, tmp_path: Path, *extra: str) -> None:
    path = tmp_path / f"{modality}.onnx"
    assert main(["export", str(run), "--modality", modality, "--out", str(path), *extra]) == 0
    assert path.stat().st_size > 0


def trained_from(run: Path, task: str, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["train", "--init", str(run), "--tasks", task, "--max-steps", "3", "--out", str(out), *SMALL]) == 0
    return capsys.readouterr().out


def test_vit_import_train_load_embed_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, src = vit_folder(tmp_path / "hf")
    run, out = imported(src, tmp_path), tmp_path / "shapes"
    before = omnivec.load(run, device="cpu").state_dict()["trunk.blocks.0.attn.qkv.weight"]
    report = trained_from(run, "shapes", out, capsys)
    assert "initialised" in report and "new task heads: shapes" in report
    model = omnivec.load(out, device="cpu")
    after = model.state_dict()["trunk.blocks.0.attn.qkv.weight"]
    assert not torch.equal(before, after) and float((before - after).abs().max()) < 0.1  # trained, from the start
    assert model.embed("image", [torch.rand(3, 32, 32)] * 2).shape == (2, 32)
    assert len(model.predict("shapes", [torch.rand(3, 32, 32)])) == 1
    exported_onnx(out, "image", tmp_path, "--shape", "3,32,32")


def test_bert_import_finetune_load_embed_export(tmp_path: Path) -> None:
    _, _, src = bert_folder(tmp_path / "hf")
    run, out = imported(src, tmp_path), tmp_path / "topics"
    assert main(["finetune", str(run), "--tasks", "topics", "--steps", "2", "--out", str(out), *SMALL]) == 0
    model = omnivec.load(out, device="cpu")
    assert model.tokenizer is not None and model.tokenizer.tk.token_to_id("[CLS]") == 2  # BERT's own vocabulary
    assert model.embed("text", TEXTS).shape == (len(TEXTS), 32)
    exported_onnx(out, "text", tmp_path)


def test_ast_import_train_load_embed_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, src = ast_folder(tmp_path / "hf")
    run, out = imported(src, tmp_path), tmp_path / "tones"
    trained_from(run, "tones", out, capsys)
    model = omnivec.load(out, device="cpu")
    assert model.embed("audio", waveforms()).shape == (2, 32)
    exported_onnx(out, "audio", tmp_path)


def test_bart_import_unival_finetune_load_generate_export(tmp_path: Path) -> None:
    root = str(real_root())
    _, _, src = bart_folder(tmp_path / "hf")
    run, out = imported(src, tmp_path, "--num-bins", "16"), tmp_path / "caption"
    args = ["unival", "finetune", str(run), "--tasks", "caption_image", "--steps", "2", "--out", str(out)]
    assert main([*args, "--num-train", "8", "--num-test", "4", "--batch-size", "4", "--eval-limit", "2",
                 "--quiet", "--data-root", root]) == 0  # fmt: skip
    model = omnivec.load(out, device="cpu")
    assert model.cfg.num_bins == 16 and model.cfg.backbone.post_norm
    assert len(model.generate("caption_image", [torch.rand(1, 64, 64)], max_len=4)) == 1
    assert model.embed("text", TEXTS).shape == (len(TEXTS), 32)
    exported_onnx(out, "text", tmp_path)
    assert main(["export", str(out), "--format", "hf", "--out", str(tmp_path / "bart")]) == 0


def test_vit_mae_import_continues_masked_pretraining(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, src = vit_folder(tmp_path / "hf", mae=True)
    run, out = imported(src, tmp_path), tmp_path / "pre"
    argv = ["pretrain", "--init", str(run), "--tasks", "shapes", "--steps", "2", "--out", str(out)]
    assert main([*argv, *SMALL]) == 0
    assert "initialised" in capsys.readouterr().out  # the encoder and trunk came from the checkpoint
    assert omnivec.load(out, device="cpu").embed("image", [torch.rand(3, 32, 32)]).shape == (1, 32)
