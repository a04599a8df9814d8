"""Range checks at the edge: every numeric flag and config field is checked where it is parsed, so a bad value
is one line naming the field, what was given and what is expected -- never a silent wrong result (a batch size
of -3 made the whole dataset one batch) and never a traceback from deep inside torch.

Two halves: argparse ``type=`` functions for flags (:func:`positive_int`, :func:`finite_float`, ...), and
:func:`check_config`, which :func:`omnivec.config.from_dict` runs on every dataclass it builds (config files,
``--set``, run folders' ``config.yaml``), with the rules keyed by field name in :data:`RULES` so one table
covers the OmniVec and the UnIVAL configs alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable
from typing import Any

from omnivec.config.encoder import EncoderConfig
from omnivec.errors import OmnivecError

Check = tuple[Callable[[Any], bool], str]


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


POSITIVE_INT: Check = (lambda x: _int(x) and x >= 1, "an integer >= 1")
NON_NEGATIVE_INT: Check = (lambda x: _int(x) and x >= 0, "an integer >= 0")
POSITIVE: Check = (lambda x: _num(x) and x > 0, "a finite number > 0")
NON_NEGATIVE: Check = (lambda x: _num(x) and x >= 0, "a finite number >= 0")
UNIT: Check = (lambda x: _num(x) and 0 <= x <= 1, "a number in [0, 1]")
BELOW_ONE: Check = (lambda x: _num(x) and 0 <= x < 1, "a number in [0, 1)")
FRACTION: Check = (lambda x: _num(x) and 0 < x <= 1, "a number in (0, 1]")
OPEN_UNIT: Check = (lambda x: _num(x) and 0 < x < 1, "a number in (0, 1)")


def _choice(*options: str) -> Check:
    return (lambda x: x in options, "one of " + ", ".join(options))


RULES: dict[str, Check] = {
    **dict.fromkeys(
        (
            *("max_steps", "batch_size", "grad_accum", "log_every", "keep_checkpoints", "embed_dim", "depth"),
            *("num_heads", "num_train", "num_test", "image_size", "decoder_depth", "decoder_max_length", "num_bins"),
        ),
        POSITIVE_INT,
    ),
    **dict.fromkeys(
        (
            *("warmup_steps", "seed", "eval_every", "checkpoint_every", "num_workers", "train_limit", "test_limit"),
            *("num_meta_tokens", "stage1_steps", "num_classes", "head_only_steps", "patience"),
        ),
        NON_NEGATIVE_INT,
    ),
    **dict.fromkeys(("lr", "mlp_ratio", "embed_lr_scale"), POSITIVE),
    **dict.fromkeys(("max_seconds", "weight_decay", "grad_clip", "layer_scale", "loss_weight"), NON_NEGATIVE),
    **dict.fromkeys(("min_lr_ratio", "drop_path"), UNIT),
    **dict.fromkeys(("ema_decay", "label_smoothing"), BELOW_ONE),
    "label_fraction": FRACTION,
    "val_fraction": OPEN_UNIT,
    "layer_decay": FRACTION,
    "task_schedule": _choice("mixed", "round_robin"),
}
"""Field name -> (test, what is expected). A field of any config dataclass with one of these names obeys it."""

POSITIVE_ENCODER_FIELDS = (
    "sample_rate",
    "patch_size",
    "tubelet_size",
    "in_chans",
    "max_length",
    "num_groups",
    "group_size",
    "hidden_dim",
    "num_points",
    "n_mels",
    "num_frames",
)
"""Encoder fields that are sizes or rates: zero or negative means nothing (a negative sample rate crashed)."""
SIGNED_ENCODER_FIELDS = ("mean",)
"""Encoder fields that may be negative: a normalisation mean (AST's filterbank mean is -4.27)."""


def check_config(cfg: Any, where: str = "") -> None:
    """Refuse a config dataclass whose fields break :data:`RULES` (nested dataclasses are checked when they are
    built); the error names ``where.field``, the value and what is expected."""
    prefix = f"{where}." if where else ""
    if isinstance(cfg, EncoderConfig):
        check_encoder(cfg, where)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        rule = RULES.get(f.name)
        if rule is not None and not rule[0](value):
            raise OmnivecError(f"{prefix}{f.name}: expected {rule[1]}, got {value!r}")
    if hasattr(cfg, "embed_dim") and hasattr(cfg, "num_heads") and cfg.embed_dim % cfg.num_heads:
        raise OmnivecError(
            f"{prefix}num_heads: {cfg.num_heads} does not divide {prefix}embed_dim {cfg.embed_dim}; "
            "expected a divisor (each head gets embed_dim / num_heads channels)"
        )
    if hasattr(cfg, "vectorizer"):
        from omnivec.nn.vectorizer import VECTORIZERS

        if cfg.vectorizer not in VECTORIZERS:
            raise OmnivecError(f"{prefix}vectorizer: expected one of {', '.join(VECTORIZERS)}, got {cfg.vectorizer!r}")


def check_encoder(cfg: EncoderConfig, where: str) -> None:
    """Sizes and rates of an encoder's config are positive, other numbers finite and >= 0 (a mean may be
    negative), whatever the encoder: the rules go by field name."""
    for key, value in ((f.name, getattr(cfg, f.name)) for f in dataclasses.fields(cfg)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if key in SIGNED_ENCODER_FIELDS and math.isfinite(value):
            continue
        if not math.isfinite(value) or value < 0:
            raise OmnivecError(f"{where}.{key}: expected a finite number >= 0, got {value!r}")
        if key in POSITIVE_ENCODER_FIELDS and value <= 0:
            raise OmnivecError(f"{where}.{key}: expected a number > 0, got {value!r}")


# --------------------------------------------------------------------------------------------- flags


def _flag(check: Check, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {check[1]}, got {text!r}") from None
        if not check[0](value):
            raise argparse.ArgumentTypeError(f"expected {check[1]}, got {text!r}")
        return value

    convert.__name__ = check[1]
    return convert


positive_int = _flag(POSITIVE_INT, int)
non_negative_int = _flag(NON_NEGATIVE_INT, int)
positive_float = _flag(POSITIVE, float)
non_negative_float = _flag(NON_NEGATIVE, float)
unit_float = _flag(UNIT, float)
below_one_float = _flag(BELOW_ONE, float)
fraction_float = _flag(FRACTION, float)
open_fraction = _flag(OPEN_UNIT, float)
finite_float = _flag((_num, "a finite number"), float)


__all__ = [
    "RULES",
    "check_config",
    "check_encoder",
    "finite_float",
    "fraction_float",
    "non_negative_float",
    "non_negative_int",
    "open_fraction",
    "positive_float",
    "positive_int",
    "unit_float",
]
