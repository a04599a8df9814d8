"""Where a model runs: ``--device auto`` (CUDA when present, else the CPU) or an explicit torch device."""

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
