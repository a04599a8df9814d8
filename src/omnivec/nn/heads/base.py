"""Heads keyed by task kind. A head takes the trunk's :class:`Features` and the pooled vector and returns a
named tuple; tasks (``omnivec.tasks``) turn that into losses, metrics and predictions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from torch import Tensor, nn

from omnivec.config import ModelConfig, TaskConfig
from omnivec.registry import Registry


class Features(NamedTuple):
    """The trunk's output for one batch of one modality.

    x: (B, N, D) normalised tokens; the first ``num_prefix`` are cls/meta tokens, the rest follow the encoder's
    token order. pad_mask: (B, N) True for padding, or None. grid: the encoder's token grid. skips and size:
    passed through from the encoder's :class:`~omnivec.types.Tokens` for dense heads. modality: the encoder's.
    """

    x: Tensor
    pad_mask: Tensor | None
    num_prefix: int
    grid: tuple[int, ...]
    skips: tuple[Tensor, ...] = ()
    size: tuple[int, ...] = ()
    modality: str = ""

    @property
    def data_tokens(self) -> Tensor:
        return self.x[:, self.num_prefix :]


HeadBuilder = Callable[[TaskConfig, ModelConfig, Any], nn.Module]
HEADS: Registry[HeadBuilder] = Registry("head")
