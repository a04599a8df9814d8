"""The memory knobs: activation checkpointing gives the same gradients as keeping the activations (it recomputes
each block in the backward), and the precision setting picks the autocast dtype; fp16's loss scale is part of the
checkpoint, so an fp16 run resumes bit for bit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from omnivec.cli import main
from omnivec.errors import OmnivecError
from omnivec.training import checkpoint as ckpt
from omnivec.training.device import autocast_dtype

TRAIN = ["train", "--tasks", "shapes,topics", "--preset", "tiny", "--num-train", "16", "--num-test", "8"]
TRAIN += ["--batch-size", "4", "--log-formats", "none", "--quiet"]


def grads_of(model: torch.nn.Module, checkpointing: bool) -> tuple[dict[str, torch.Tensor], int]:
    """Gradients of one classification and one text-decoding loss, and how many times the trunk's blocks ran."""
    from omnivec.nn.layers.attention import Block

    calls = 0

    def counted(forward: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def run(*args: object, **kw: object) -> torch.Tensor:
            nonlocal calls
            calls += 1
            return forward(*args, **kw)

        return run

    blocks = [m for m in model.modules() if isinstance(m, Block)]
    for b in blocks:  # forward hooks do not fire when checkpointing recomputes a block; the forward itself runs
        b.forward = counted(b.forward)  # type: ignore[method-assign]
    for m in model.modules():
        if hasattr(m, "grad_checkpoint"):
            m.grad_checkpoint = checkpointing
    model.train().zero_grad()
    torch.manual_seed(0)
    tokens = torch.randint(5, 100, (2, 7))
    memory = torch.randn(2, 6, model.cfg.backbone.embed_dim, requires_grad=False)
    feats = model.backbone.trunk(memory)
    logits = model.decoder(tokens, feats)
    logits.float().pow(2).mean().backward()
    for b in blocks:
        del b.forward
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}, calls


def test_activation_checkpointing_gives_the_same_gradients_and_recomputes_the_blocks() -> None:
    from omnivec.families.unival.config import unival_preset
    from omnivec.families.unival.model import UnivalModel

    torch.manual_seed(0)
    cfg = unival_preset("tiny", num_bins=8)
    model = UnivalModel(cfg.model, UnivalModel.train_tokenizer(["a b c", "d e f"], 120, 8))
    plain, plain_calls = grads_of(model, False)
    ckpt_grads, ckpt_calls = grads_of(model, True)
    assert plain.keys() == ckpt_grads.keys() and plain
    for k in plain:
        torch.testing.assert_close(ckpt_grads[k], plain[k], rtol=1e-5, atol=1e-6)
    assert ckpt_calls == 2 * plain_calls  # every trunk block ran again in the backward


def test_a_checkpointed_run_trains_the_same_weights(tmp_path: Path) -> None:
    for name, extra in (("plain", []), ("ckpt", ["--grad-checkpoint"])):
        assert main([*TRAIN, "--steps", "3", *extra, "--out", str(tmp_path / name)]) == 0
    a, b = (ckpt.load_weights(tmp_path / n / ckpt.WEIGHTS) for n in ("plain", "ckpt"))
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6)


def test_an_fp16_run_resumes_bit_for_bit_with_its_loss_scale(tmp_path: Path) -> None:
    assert main([*TRAIN, "--precision", "fp16", "--steps", "4", "--out", str(tmp_path / "whole")]) == 0
    assert main([*TRAIN, "--precision", "fp16", "--steps", "2", "--out", str(tmp_path / "part")]) == 0
    state = ckpt.load_state(tmp_path / "part" / ckpt.TRAIN_STATE)
    assert state["grad_scaler"]["scale"] > 1  # fp16 scales the loss, and the scale is checkpointed
    assert main(["train", "--out", str(tmp_path / "part"), "--resume", "--steps", "4", "--quiet"]) == 0
    a, b = (ckpt.load_weights(tmp_path / n / ckpt.WEIGHTS) for n in ("whole", "part"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_precision_picks_the_autocast_dtype() -> None:
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) is None and autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) == torch.bfloat16 and autocast_dtype("fp16", cpu) == torch.float16
    with pytest.raises(OmnivecError, match="expected one of auto, fp32, bf16, fp16"):
        autocast_dtype("fp8", cpu)
