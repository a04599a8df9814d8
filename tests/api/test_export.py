"""ONNX export of the embedding path: onnxruntime on the written file reproduces ``model.embed`` on batches the
graph was not traced with (another batch size; for audio and text a padded batch of another length); the CLI;
clear errors. Needs ``pip install 'omnivec[export]'``: skipped without onnxruntime/onnxscript."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

from omnivec.api import export  # noqa: E402
from omnivec.api.load import load  # noqa: E402
from omnivec.api.train import train  # noqa: E402
from omnivec.cli import main  # noqa: E402
from omnivec.config import preset  # noqa: E402
from omnivec.errors import OmnivecError  # noqa: E402
from omnivec.nn.model import OmniModel  # noqa: E402
from omnivec.types import EncoderInput  # noqa: E402

TASK_OF = {"image": "shapes", "audio": "tones", "text": "topics", "points": "solids"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run on four modalities (no video encoder), trained for one step."""
    cfg = preset("tiny")
    cfg.tasks = list(TASK_OF.values())
    del cfg.model.encoders["video"]
    cfg.model.encoders["points"].num_groups, cfg.model.encoders["points"].hidden_dim = (
        8,
        16,
    )  # a short farthest-point loop to trace
    cfg.train.max_steps, cfg.train.batch_size, cfg.num_train, cfg.num_test = 1, 4, 16, 8
    out = tmp_path_factory.mktemp("export") / "run"
    train(cfg, out, progress=False)
    return out


@pytest.fixture(scope="module")
def model(run_dir: Path) -> OmniModel:
    return load(run_dir)


def new_samples(modality: str) -> list[Any]:
    """Four samples unlike the export example (seed, count and, for audio and text, lengths)."""
    g = torch.Generator().manual_seed(7)
    if modality == "text":
        return ["tennis match tonight", "the market fell", "rain", "a new phone and a faster chip"]
    if modality == "audio":
        return [torch.randn(n, generator=g) * 0.2 for n in (5000, 9100, 2600, 7300)]
    return [
        torch.rand(3, 32, 32, generator=g) if modality == "image" else torch.randn(300, 3, generator=g)
        for _ in range(4)
    ]


def onnx_outputs(path: Path, batch: EncoderInput) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {session.get_inputs()[0].name: batch.data.numpy()}
    if batch.lengths is not None:
        feeds["lengths"] = batch.lengths.numpy()
    return session.run(None, feeds)


@pytest.mark.slow
@pytest.mark.parametrize("modality", ["image", "audio", "points"])
def test_onnx_embeddings_equal_pytorch_on_a_new_batch(model: OmniModel, tmp_path: Path, modality: str) -> None:
    path = export.export_onnx(model, modality, tmp_path / f"{modality}.onnx")
    batch = model.collate(modality, new_samples(modality))
    if modality == "audio":  # padded, and not as long as the traced example
        assert batch.lengths is not None
        assert len(set(batch.lengths.tolist())) == 4 and batch.data.shape[1] < 16000
    (got,) = onnx_outputs(path, batch)
    want = model.embed(modality, batch).numpy()
    assert got.shape == want.shape == (4, 64)
    np.testing.assert_allclose(got, want, rtol=0, atol=export.TOLERANCE)


@pytest.mark.slow
def test_cli_exports_text_with_logits(model: OmniModel, run_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "text.onnx"
    rc = main(["export", str(run_dir), "--modality", "text", "--out", str(out), "--task", "topics"])
    printed = capsys.readouterr().out
    assert rc == 0 and out.is_file()
    assert f"wrote {out}" in printed and "token_ids" in printed and "[batch, length]" in printed
    assert "logits" in printed and "verified with onnxruntime" in printed
    batch = model.collate("text", new_samples("text"))
    assert batch.lengths is not None
    assert batch.data.shape[0] == 4 and int(batch.lengths.min()) < batch.data.shape[1]  # padded
    embeddings, logits = onnx_outputs(out, batch)
    np.testing.assert_allclose(embeddings, model.embed("text", batch).numpy(), rtol=0, atol=export.TOLERANCE)
    with torch.no_grad():
        want_logits = model("topics", batch).logits.numpy()
    np.testing.assert_allclose(logits, want_logits, rtol=0, atol=export.TOLERANCE)


@pytest.mark.slow
def test_a_graph_that_disagrees_with_pytorch_is_refused_and_not_written(
    model: OmniModel, tmp_path: Path, monkeypatch
) -> None:
    true_embed = model.embed
    monkeypatch.setattr(model, "embed", lambda m, inp: true_embed(m, inp) + 1e-3)
    out = tmp_path / "image.onnx"
    with pytest.raises(
        OmnivecError, match=r"by 1\.0\de-03 \(> 0\.0001\) on a batch of shape \(\d, 3, 16, 16\); nothing was written"
    ):
        export.export_run(model, "image", out, shape=(3, 16, 16))  # --shape: not the run's 32 x 32
    assert not out.exists()


def test_run_without_the_modality_is_a_clear_error(run_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "video.onnx"
    assert main(["export", str(run_dir), "--modality", "video", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "omnivec export: error: this model has no 'video' encoder; it has: image, audio, text, points"
    assert not out.exists()


def test_missing_export_extra_is_one_line(run_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    assert main(["export", str(run_dir), "--modality", "image", "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'omnivec[export]'" in err[0] and "onnxruntime is missing" in err[0]


def test_image_size_unknown_without_data_asks_for_shape(model: OmniModel, tmp_path: Path) -> None:
    bare = OmniModel(model.cfg)  # no run_config: nothing tells the image size
    with pytest.raises(OmnivecError, match=r"pass --shape \(C,H,W\)"):
        export.export_onnx(bare, "image", tmp_path / "x.onnx")
    with pytest.raises(OmnivecError, match="--shape applies to fixed-size inputs"):
        export.export_run(model, "points", tmp_path / "x.onnx", shape=(100, 3))


def test_second_batch_changes_batch_size_and_length() -> None:
    inp = EncoderInput(torch.arange(3 * 10).reshape(3, 10), torch.tensor([10, 6, 3]))
    out = export.second_batch(inp)
    assert out.data.tolist() == [r[:6] for r in inp.data[[0, 1, 2, 0, 1]].tolist()]
    assert out.lengths is not None and out.lengths.tolist() == [6, 6, 3, 6, 6]


def test_an_opset_the_exporter_fell_back_from_is_an_error() -> None:
    from types import SimpleNamespace

    Program = SimpleNamespace(model_proto=SimpleNamespace(opset_import=[SimpleNamespace(domain="", version=18)]))
    assert export._opset(Program, None) == 18 and export._opset(Program, 18) == 18
    with pytest.raises(OmnivecError, match="could not convert the graph to opset 13"):
        export._opset(Program, 13)


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run with a segmentation task and an audio <-> image retrieval task, trained for one step."""
    from serve_helpers import TONE_SHAPES, register_tone_shapes

    register_tone_shapes()
    cfg = preset("tiny")
    cfg.tasks = ["scenes", TONE_SHAPES]
    cfg.train.max_steps, cfg.train.batch_size, cfg.num_train, cfg.num_test = 1, 4, 16, 8
    out = tmp_path_factory.mktemp("export-heads") / "run"
    train(cfg, out, progress=False)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("modality", "task", "output"),
    [
        ("image", "scenes", "mask_logits"),
        ("audio", "tone-shapes", "projection"),
        ("image", "tone-shapes", "projection"),
    ],
)
def test_segmentation_and_retrieval_heads_export_and_match_pytorch(
    dense_run: Path, tmp_path: Path, modality: str, task: str, output: str
) -> None:
    out = tmp_path / f"{task}-{modality}.onnx"
    r = export.export_run(dense_run, modality, out, task=task)
    assert [o[0] for o in r.outputs] == ["embeddings", output] and r.checks
    model = load(dense_run)
    batch = model.collate(modality, new_samples(modality))
    embeddings, head = onnx_outputs(out, batch)
    with torch.no_grad():
        want = model.embed(modality, batch, task=task) if output == "projection" else model(task, batch).logits
    assert head.shape == tuple(want.shape)  # (B, K, H, W) masks at the model's resolution; (B, E) unit vectors
    np.testing.assert_allclose(head, want.numpy(), rtol=0, atol=export.TOLERANCE)
    np.testing.assert_allclose(embeddings, model.embed(modality, batch).numpy(), rtol=0, atol=export.TOLERANCE)
