"""Where a model runs: ``--device auto`` (CUDA when present, else the CPU) or an explicit torch device; and in
which precision it trains there (``train.precision``: the autocast dtype)."""

from __future__ import annotations

import torch

from omnivec.errors import OmnivecError

DEVICE_HELP = "auto (CUDA when present, else CPU), cpu, cuda or cuda:N"


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``auto``/None -> ``cuda`` when a GPU is visible, else ``cpu``; anything else is checked, so asking for a
    GPU that is not there fails with one line instead of deep inside a forward pass."""
    if isinstance(spec, torch.device):
        return spec
    if spec in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError):
        raise OmnivecError(f"--device {spec!r}: not a device; expected {DEVICE_HELP}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise OmnivecError(f"--device {spec}: no CUDA device is visible here (torch.cuda.is_available() is False)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise OmnivecError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    elif device.type != "cpu":
        raise OmnivecError(f"--device {spec}: unsupported device type {device.type!r}; expected {DEVICE_HELP}")
    return device


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``train.precision`` on ``device`` (None: fp32, no autocast). ``auto`` is bf16 on CUDA
    and fp32 elsewhere; bf16 on a GPU without bf16 (before Ampere) is refused, naming fp16 instead."""
    if precision not in PRECISIONS:
        raise OmnivecError(f"train.precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return None
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise OmnivecError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bf16; use fp16 or fp32")
    return torch.bfloat16 if precision == "bf16" else torch.float16
