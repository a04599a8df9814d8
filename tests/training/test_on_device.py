"""Device-sensitive tests, run on ``OMNIVEC_TEST_DEVICE`` (default cpu): ``bench/gpu_check.sh`` runs every
``device``-marked test with it set to ``cuda``. A forward pass matches the CPU's, and a training run goes end to
end (bf16 autocast on CUDA) into a folder that loads on the CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from conftest import sample_inputs, tiny_model
from omnivec.cli import main
from omnivec.runs import load_run
from omnivec.training.device import resolve_device

pytestmark = pytest.mark.device

DEVICE = resolve_device(os.environ.get("OMNIVEC_TEST_DEVICE", "cpu"))


def test_forward_on_the_device_matches_the_cpu(tokenizer) -> None:
    model = tiny_model(tokenizer).eval()
    inputs = sample_inputs()
    with torch.no_grad():
        ref = model.embed("image", inputs["image"])
        got = model.to(DEVICE).embed("image", inputs["image"]).cpu()
    # cuDNN convolutions may use TF32 on the GPU: equal to about 1e-3, not bit for bit
    torch.testing.assert_close(got, ref, rtol=1e-2, atol=1e-2)


def test_train_runs_on_the_device(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["train", "--tasks", "shapes", "--preset", "tiny", "--max-steps", "2", "--num-train", "8"]
    argv += ["--num-test", "4", "--batch-size", "4", "--out", str(out), "--device", str(DEVICE), "--quiet"]
    assert main(argv) == 0
    model, _ = load_run(out)
    assert all(torch.isfinite(p).all() for p in model.parameters())
