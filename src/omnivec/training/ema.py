"""An exponential moving average of the weights (``train.ema_decay``), kept beside the model and saved with each
checkpoint as ``ema.safetensors``.

The decay warms up as in TensorFlow's ``ExponentialMovingAverage(num_updates=...)`` and timm's ``ModelEmaV3``:
update ``n`` (from 1) uses ``min(decay, (1 + n) / (10 + n))``, so the average forgets the random initialisation
within the first few hundred steps. Without it a decay of 0.999 still weighs the initial weights by
``0.999 ** 1500 = 0.22`` after 1,500 steps. The decay depends only on the step, so a resumed run continues it
exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def ema_decay_at(decay: float, update: int) -> float:
    """The decay of the ``update``-th update (from 1): ``decay`` once ``(1 + n) / (10 + n)`` passes it."""
    return min(decay, (1 + update) / (10 + update))


class EMA:
    """Exponential moving average of the weights (float tensors only)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow: dict[str, Tensor] = {
            k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()
        }

    @torch.no_grad()
    def update(self, model: nn.Module, update: int) -> None:
        """Move the average towards ``model``'s weights after optimizer step ``update`` (from 1)."""
        d = ema_decay_at(self.decay, update)
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].lerp_(v, 1 - d)


__all__ = ["EMA", "ema_decay_at"]
