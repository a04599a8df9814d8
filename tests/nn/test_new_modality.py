"""A modality is one file: a toy ``tabular`` modality (rows of numbers), its encoder and a task registered here
alone -- nothing outside this file is edited -- trains, pretrains (masked), predicts and embeds from files (Python
and CLI) and exports to ONNX."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import omnivec
from omnivec.cli import main
from omnivec.config import EncoderConfig, RunConfig, TaskConfig, from_dict, preset
from omnivec.data.base import TASKS, SampleDataset, TaskEntry, TaskSplits, register_task
from omnivec.nn.encoders import ENCODERS
from omnivec.nn.encoders.base import Encoder
from omnivec.types import EncoderInput, Tokens

COLUMNS = 6


@dataclass
class TabularConfig(EncoderConfig):
    num_features: int = COLUMNS
    """Numbers per row."""


class TabularEncoder(Encoder):
    """One token per column: its value times a learned vector, plus a learned column embedding."""

    modality = "tabular"
    Config = TabularConfig
    default_pool = "mean"
    default_mask_ratio = 0.5
    export_name = "rows"
    fixed_size_why = "num_features numbers per row"
    file_extensions = (".csv",)

    def __init__(self, cfg: TabularConfig, embed_dim: int) -> None:
        super().__init__(cfg, embed_dim)
        self.value = nn.Parameter(torch.randn(cfg.num_features, embed_dim) * 0.1)
        self.column = nn.Parameter(torch.randn(1, cfg.num_features, embed_dim) * 0.02)

    @classmethod
    def read_file(cls, path: Any, options: dict[str, Any]) -> Tensor:
        return torch.tensor([float(v) for v in Path(path).read_text().strip().split(",")])

    def collate(self, samples: list[Any]) -> EncoderInput:
        return EncoderInput(torch.stack([torch.as_tensor(s, dtype=torch.float32) for s in samples]))

    def forward(self, inp: EncoderInput) -> Tokens:
        x = self.check(inp, 2, "rows (B, num_features)")
        return Tokens(x[..., None] * self.value + self.column, None, (x.shape[1],))

    def patch_targets(self, inp: EncoderInput) -> Tensor:
        return inp.data[..., None]  # each token reconstructs its own number

    def target_dim(self) -> int:
        return 1

    def decoder_positions(self, inp: EncoderInput, grid: tuple[int, ...], n: int) -> tuple[Tensor, Any]:
        return self.column, None

    def example_samples(self, shape: Sequence[int] | None, g: torch.Generator) -> list[Any]:
        return [torch.randn(self.cfg.num_features, generator=g) for _ in range(3)]


def _rows(cfg: RunConfig) -> TaskSplits:
    """Label: whether the first two numbers sum to more than zero."""
    g = torch.Generator().manual_seed(cfg.train.seed)

    def split(n: int) -> SampleDataset:
        x = torch.randn(n, COLUMNS, generator=g)
        return SampleDataset("tabular", list(x), (x[:, 0] + x[:, 1] > 0).long().tolist(), ["low", "high"])

    return TaskSplits(split(cfg.num_train), split(cfg.num_test), "tabular", "classification", ["low", "high"])


@pytest.fixture(scope="module")
def registered() -> Iterator[None]:
    ENCODERS.register("tabular_rows")(TabularEncoder)
    register_task(TaskEntry("rows", "classification", "tabular", _rows, description="toy rows"))
    yield
    ENCODERS.unregister("tabular_rows")
    TASKS.unregister("rows")


def _config(steps: int) -> RunConfig:
    cfg = preset("tiny")
    cfg.model.encoders = {"tabular": from_dict(EncoderConfig, {"name": "tabular_rows"})}
    cfg.tasks = ["rows"]
    cfg.train.max_steps, cfg.train.lr, cfg.num_train, cfg.num_test = steps, 3e-3, 512, 256
    return cfg


@pytest.mark.slow
def test_trains_embeds_and_exports(registered: None, tmp_path: Path, capsys) -> None:
    from omnivec.api.train import train

    results = train(_config(150), tmp_path / "run", progress=False)
    assert results["rows"]["value"] > 0.8, results  # learns the rule (chance 0.5)
    model = omnivec.load(tmp_path / "run")
    row = tmp_path / "row.csv"
    row.write_text("2.0,1.5,0,0,0,0\n")
    assert model.predict("rows", [row]) == ["high"]  # a file, read by the encoder's read_file
    v = model.embed("tabular", [row])
    assert v.shape == (1, 64)
    assert torch.equal(v, model.embed("tabular", [torch.tensor([2.0, 1.5, 0, 0, 0, 0])]))
    out = tmp_path / "v.npz"
    assert main(["embed", str(tmp_path / "run"), "--modality", "tabular", "--input", str(row), "--out", str(out)]) == 0
    assert np.allclose(np.load(out)["vectors"], v.numpy(), atol=1e-6)
    assert main(["tasks", "--family", "omnivec"]) == 0 and "rows" in capsys.readouterr().out
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "rows.onnx"
    assert main(["export", str(tmp_path / "run"), "--modality", "tabular", "--out", str(onnx_path)]) == 0
    assert "rows" in capsys.readouterr().out and onnx_path.is_file()


def test_pretrains_masked(registered: None, tmp_path: Path) -> None:
    from omnivec.api.pretrain import PretrainConfig, pretrain

    summary = pretrain(_config(20), tmp_path / "pt", PretrainConfig())
    assert np.isfinite(summary["last"]["loss"])
    assert set(omnivec.load(tmp_path / "pt").encoders) == {"tabular"}


def test_an_unknown_modality_names_what_is_registered(registered: None) -> None:
    from omnivec.errors import OmnivecError
    from omnivec.nn.model import OmniModel

    cfg = _config(1).model
    cfg.encoders = {"image": from_dict(EncoderConfig, {"name": "tabular_rows"})}
    with pytest.raises(OmnivecError, match="reads tabular, not image"):
        OmniModel(cfg)
    _ = TaskConfig  # the toy task's config is built by the catalogue entry above
