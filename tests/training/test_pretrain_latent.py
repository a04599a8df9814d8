"""The latent-target objective (data2vec 2.0): hidden inputs reach the loss only through the teacher's targets,
never through the student; the teacher follows the model by EMA and is not trained; several masks share one
teacher pass; a latent run resumes bit-exact."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omnivec.api.pretrain import TEACHER_WEIGHTS, MaskedAutoencoder, PretrainConfig, pretrain
from omnivec.config import preset
from omnivec.nn.model import OmniModel
from omnivec.nn.tokenizer import TextTokenizer
from omnivec.training import checkpoint as ckpt
from omnivec.training.engine import Engine
from omnivec.training.optim import make_optimizer
from omnivec.types import EncoderInput


def latent_mae(tokenizer: TextTokenizer | None = None, **kw: object) -> MaskedAutoencoder:
    torch.manual_seed(0)
    pcfg = PretrainConfig(objective="latent", **kw)  # type: ignore[arg-type]
    return MaskedAutoencoder(OmniModel(preset("tiny").model, tokenizer), pcfg)


def hidden_pixel_mask(mae: MaskedAutoencoder, x: torch.Tensor, ratio: float, seed: int) -> torch.Tensor:
    """(B, 1, H, W) True at the pixels of the tokens the seeded mask hides (the loss draws the same mask)."""
    enc = mae.omni.encoder("image")
    torch.manual_seed(seed)
    m, grid, _ = enc.masked_tokens(EncoderInput(x), ratio)
    hidden = m.mask.view(x.shape[0], *grid)
    for axis, p in enumerate(enc.patch):  # type: ignore[attr-defined]
        hidden = hidden.repeat_interleave(p, dim=axis + 1)
    return hidden[:, None]


def test_hidden_pixels_get_no_gradient_and_kept_ones_do() -> None:
    """The teacher sees the whole input under no_grad, so a gradient at a hidden pixel could only come from the
    student seeing it: there is none; kept pixels do get one (the test can fail both ways)."""
    mae = latent_mae()
    x = torch.rand(2, 1, 32, 32, requires_grad=True)
    hidden = hidden_pixel_mask(mae, x.detach(), 0.75, seed=5)
    torch.manual_seed(5)
    loss, _ = mae.loss("image", EncoderInput(x), 0.75)
    loss.backward()
    assert x.grad is not None
    assert float(x.grad[hidden].abs().max()) == 0.0
    assert float(x.grad[~hidden].abs().max()) > 0.0


def test_changing_hidden_pixels_changes_only_the_targets() -> None:
    """Same mask, hidden pixels replaced by noise: the student's predictions are identical, the teacher's targets
    (which are meant to see everything) are not."""
    mae = latent_mae().eval()
    x = torch.rand(2, 1, 32, 32)
    hidden = hidden_pixel_mask(mae, x, 0.75, seed=7).expand_as(x)
    noisy = torch.where(hidden, torch.rand_like(x) * 4, x)
    preds, targets = [], []
    for inp in (x, noisy):
        torch.manual_seed(7)
        m, grid, pad = mae.mask("image", EncoderInput(inp), 0.75)
        feats = mae.omni.forward_tokens(
            "image", mae.omni.encode("image", EncoderInput(inp))._replace(x=m.kept, pad_mask=m.kept_pad)
        )
        pos, _ = mae.omni.encoder("image").decoder_positions(EncoderInput(inp), grid, m.mask.shape[1])
        preds.append(mae.decoder("image", feats.data_tokens, m.ids_restore, m.mask, pos, pad))
        targets.append(mae.teacher_targets("image", EncoderInput(inp))[0])
    assert torch.equal(preds[0], preds[1])
    assert not torch.allclose(targets[0], targets[1])


def test_teacher_is_not_trained_and_follows_by_ema() -> None:
    mae = latent_mae(teacher_decay=0.9, teacher_decay_end=0.9)
    assert mae.teacher is not None
    opt = make_optimizer(mae, preset("tiny").train)
    trained = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not any(id(p) in trained for p in mae.teacher.parameters())
    with torch.no_grad():
        for p in mae.omni.parameters():
            p.add_(1.0)
    before = {k: v.clone() for k, v in mae.teacher.named_parameters()}
    mae.update_teacher(1, 10)
    student = dict(mae.omni.named_parameters())
    for k, t in mae.teacher.named_parameters():
        torch.testing.assert_close(t, 0.9 * before[k] + 0.1 * student[k])


def test_teacher_decay_rises_from_start_to_end() -> None:
    mae = latent_mae(teacher_decay=0.99, teacher_decay_end=0.999)
    assert mae.teacher_decay(0, 100) == pytest.approx(0.99)
    assert mae.teacher_decay(50, 100) == pytest.approx(0.9945)
    assert mae.teacher_decay(100, 100) == pytest.approx(0.999)


def test_teacher_stays_in_eval_mode() -> None:
    mae = latent_mae().train()
    assert mae.omni.training and mae.teacher is not None and not mae.teacher.training


@pytest.mark.parametrize("modality", ["image", "audio", "text", "points"])
def test_multi_mask_loss_over_every_modality(modality: str, tokenizer: TextTokenizer) -> None:
    mae = latent_mae(tokenizer, num_masks=3, global_weight=1.0)
    g = torch.Generator().manual_seed(0)
    samples = {
        "image": [torch.rand(3, 16, 16, generator=g) for _ in range(2)],
        "audio": [torch.randn(4000, generator=g) * 0.1, torch.randn(2500, generator=g) * 0.1],
        "text": ["a small test sentence", "another one, longer than the first sentence"],
        "points": [torch.randn(256, 3, generator=g) for _ in range(2)],
    }[modality]
    inp = mae.omni.collate(modality, samples)
    loss, report = mae.loss(modality, inp, 0.5)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(p.grad is not None for p in mae.decoder.embed.parameters())
    assert mae.global_head is not None and mae.global_head.weight.grad is not None
    assert report["global"] > 0


def test_unknown_objective_is_refused() -> None:
    from omnivec.errors import OmnivecError

    with pytest.raises(OmnivecError, match="pixels, latent"):
        MaskedAutoencoder(OmniModel(preset("tiny").model), PretrainConfig(objective="contrastive"))


@pytest.mark.slow
def test_latent_run_resumes_to_the_same_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that dies right after its step-2 checkpoint and is resumed ends where the uninterrupted run ends,
    teacher included (the teacher's decay is a function of the step, its weights are in the checkpoint)."""
    cfg = preset("tiny")
    cfg.num_train, cfg.num_test, cfg.tasks = 16, 8, ["shapes", "tones"]
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.log_every, cfg.train.checkpoint_every = 4, 4, 1, 2
    pcfg = PretrainConfig(objective="latent", num_masks=2)
    pretrain(cfg, tmp_path / "full", pcfg, progress=False)

    save = Engine.save_checkpoint

    def crash_after_step_2(self: Engine) -> None:
        save(self)
        if self.state.step == 2:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(Engine, "save_checkpoint", crash_after_step_2)
    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, tmp_path / "stopped", pcfg, progress=False)
    monkeypatch.setattr(Engine, "save_checkpoint", save)
    pretrain(cfg, tmp_path / "stopped", resume=True, progress=False)
    for name in (ckpt.WEIGHTS, TEACHER_WEIGHTS, "decoder.safetensors"):
        a, b = ckpt.load_weights(tmp_path / "full" / name), ckpt.load_weights(tmp_path / "stopped" / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
