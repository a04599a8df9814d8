"""ONNX export of UnIVAL's greedy encoder-decoder (families/unival/onnx.py): encoder.onnx + decoder_step.onnx with
the keys/values passed in and out, and a decoding loop outside the graphs whose answers equal PyTorch's -- free
text (captioning) and constrained location tokens (grounding). Needs ``omnivec[export]``."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")

from omnivec.cli import main

pytestmark = pytest.mark.slow  # each export traces two graphs (~30-60 s on one core)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from data_helpers import unival_pretraining_tsv

    base = tmp_path_factory.mktemp("unival-onnx")
    tsv, out = unival_pretraining_tsv(base / "pretrain.tsv", 12), base / "run"
    argv = ["unival", "pretrain", "--tsv", f"pretrain={tsv}", "--steps", "3", "--num-bins", "16"]
    assert (
        main([*argv, "--image-size", "16", "--batch-size", "2", "--eval-limit", "2", "--quiet", "--out", str(out)]) == 0
    )
    return out


@pytest.mark.parametrize("task", ["tsv_pretrain_caption", "tsv_pretrain_grounding"])
def test_onnxruntime_decodes_what_pytorch_decodes(run: Path, tmp_path: Path, task: str, capsys) -> None:
    import torch

    from omnivec.api.load import load
    from omnivec.data.base import drop_skipped
    from omnivec.families.unival.onnx import load_graphs, onnx_greedy
    from omnivec.families.unival.tasks import get_seq2seq_task
    from omnivec.families.unival.train import build_data
    from omnivec.tasks.seq2seq import Decoding, seq2seq_kind

    out = tmp_path / "onnx"
    assert main(["export", str(run), "--task", task, "--out", str(out)]) == 0
    assert "greedy answers equal" in capsys.readouterr().out
    enc, step, info = load_graphs(out)
    assert (out / "tokenizer.json").is_file() and info["task"] == task
    if task.endswith("grounding"):
        assert info["decoding"]["allowed_ids"] and info["decoding"]["max_len"] == 4  # only location tokens
    # inputs the export did not check with: the training split, read back from the end
    model, spec = load(run), get_seq2seq_task(task)
    train = build_data(model.run_config, [task])[task][0]
    items, _ = drop_skipped([train[i] for i in range(len(train) - 1, len(train) - 5, -1)])
    raw = [item[0] for item in items]
    prompts, samples = zip(*(spec.prompt_and_sample(x) for x in raw))
    batch = model.collate(spec.modality, prompts, samples)
    feeds = {"prompt_ids": batch.prompt.data.numpy(), "prompt_lengths": batch.prompt.lengths.numpy()}
    feeds["data"] = batch.modal.data.numpy()
    decoding = seq2seq_kind(spec.kind).decoding(model, Decoding(), spec.max_len)
    with torch.no_grad():
        assert onnx_greedy(enc, step, feeds, info["decoding"]) == model.generate_ids(spec.modality, batch, decoding)


def test_an_omnivec_run_or_an_unknown_task_is_refused_in_one_line(run: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", str(run), "--task", "caption_image", "--out", str(tmp_path / "x")]) == 2
    assert "was not trained on 'caption_image'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
