"""The EMA of the weights warms its decay up (TensorFlow's ``num_updates``, timm's ModelEmaV3), so a short run's
average is of the trained weights, not of the random initialisation."""

from __future__ import annotations

import torch
from torch import nn

from omnivec.training.ema import EMA, ema_decay_at


def test_the_decay_warms_up_to_its_target() -> None:
    assert ema_decay_at(0.999, 1) == 2 / 11 and ema_decay_at(0.999, 90) == 91 / 100
    assert ema_decay_at(0.999, 100_000) == 0.999  # the target once the warm-up passes it


def test_a_short_run_forgets_the_initial_weights() -> None:
    """200 updates towards fixed weights: the initial weights keep the product of the decays (below 1e-12 with
    the warm-up; 0.999 ** 200 = 0.82 without it)."""
    model = nn.Linear(4, 4)
    with torch.no_grad():
        model.weight.zero_()
    ema = EMA(model, 0.999)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for n in range(1, 201):
        ema.update(model, n)
    kept_init = 1.0 - float(ema.shadow["weight"].mean())
    expected = 1.0
    for n in range(1, 201):
        expected *= ema_decay_at(0.999, n)
    assert abs(kept_init - expected) < 1e-6 and kept_init < 1e-6
