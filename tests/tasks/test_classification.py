"""Classification's training loss: ``model.label_smoothing`` reaches the cross-entropy of every classification
head through the objective both families train with; evaluation's logits are untouched by it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from omnivec.config import TaskConfig, preset
from omnivec.nn.model import OmniModel
from omnivec.training.objective import SupervisedObjective


def _model(smoothing: float) -> OmniModel:
    torch.manual_seed(0)
    cfg = preset("tiny").model
    cfg.label_smoothing, cfg.augment = smoothing, False
    model = OmniModel(cfg)
    model.add_task(TaskConfig("digits", "classification", "image", num_classes=4))
    with torch.no_grad():  # a head away from its zero start, so the smoothed loss differs from the plain one
        model.heads["digits"].fc.weight.normal_()
    return model


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_the_objective_takes_the_models_label_smoothing(smoothing: float) -> None:
    model = _model(smoothing)
    x = model.collate("image", [torch.rand(3, 16, 16) for _ in range(6)])
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    model.train()
    loss, _ = SupervisedObjective(model)({"digits": (x, y)})
    with torch.no_grad():
        model.eval()
        logits = model("digits", x).logits
    assert torch.isclose(loss, F.cross_entropy(logits, y, label_smoothing=smoothing), atol=1e-5)
    if smoothing:
        assert not torch.isclose(loss, F.cross_entropy(logits, y), atol=1e-3)


def test_a_run_started_from_other_weights_keeps_its_own_label_smoothing(tmp_path) -> None:
    """``--label-smoothing`` is a setting of the run, not of the architecture: ``train --init`` and ``finetune
    RUN`` take the start's architecture and weights but the command's smoothing."""
    from omnivec.api.finetune import _start_point
    from omnivec.config import RunConfig
    from omnivec.runs import save_run
    from omnivec.training.warm_start import adopt

    start = OmniModel(preset("tiny").model)
    save_run(start, RunConfig(model=start.cfg), tmp_path / "pt")
    run_cfg = RunConfig(model=preset("cpu").model)
    run_cfg.model.label_smoothing = 0.2
    model, cfg = _start_point(tmp_path / "pt", ["shapes"], None, run_cfg, None)
    assert model is not None and model.cfg.label_smoothing == cfg.model.label_smoothing == 0.2
    assert model.cfg.embed_dim == start.cfg.embed_dim != run_cfg.model.embed_dim  # the start's architecture
    adopt(tmp_path / "pt", run_cfg)
    assert run_cfg.model.label_smoothing == 0.2 and run_cfg.model.embed_dim == start.cfg.embed_dim
