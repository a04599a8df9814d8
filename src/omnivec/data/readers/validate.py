"""What every reader checks first (the file exists and is not empty; counts and values are sane), so each
failure names the file and says exactly what is wrong. Dataset checksums are :mod:`omnivec.data.datasets.verify`'s."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnivec.data.root import StrPath
from omnivec.errors import DataError

MAX_ELEMENTS = 1 << 31
"""Largest array a reader will allocate (2^31 elements); headers declaring more are rejected as absurd."""


def existing_file(path: StrPath) -> Path:
    """``path`` as a Path, after checking it is a non-empty regular file."""
    p = Path(path)
    if not p.exists():
        raise DataError(p, "file not found")
    if not p.is_file():
        raise DataError(p, "not a regular file")
    if p.stat().st_size == 0:
        raise DataError(p, "empty file (0 bytes)")
    return p


def check_finite(arr: np.ndarray, path: StrPath, what: str = "values") -> None:
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise DataError(path, f"{what} contain non-finite numbers ({n_nan} NaN, {n_inf} inf)")


def check_count(n: int, path: StrPath, what: str, limit: int = MAX_ELEMENTS) -> None:
    if n < 0 or n > limit:
        raise DataError(path, f"absurd dimensions: header declares {n:,} {what} (limit {limit:,})")
