"""What every reader checks first (the file exists and is not empty; counts and values are sane; the decoded
size read from the header is within its limit; a path from a data file stays inside its folder), so each
failure names the file and says exactly what is wrong. Dataset checksums are :mod:`omnivec.data.datasets.verify`'s.

The limits below are the defaults of :class:`~omnivec.data.readers.ReadOptions`' ``max_*`` fields. Each bounds
what one input may cost once decoded, checked from the header before decoding, so a small file that declares a
huge content (a compressed bomb, an odd header) is refused in milliseconds instead of allocating gigabytes.
docs/reliability.md lists them with the tests that hold them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnivec.data.root import StrPath
from omnivec.errors import DataError, OutsideRoot, TooLarge

MAX_ELEMENTS = 1 << 31
"""Largest count a header may declare (2^31 elements) where no tighter limit applies; more is absurd."""

MAX_AUDIO_SAMPLES = 1 << 26
"""Audio: decoded samples (frames x channels) and the resampled length, each at most 2^26 (67 M: 70 min of
16 kHz mono, 11.6 min of 48 kHz stereo; 256 MiB as float32). Samples, not seconds: a 96 kHz stereo file costs
12 times a 16 kHz mono one of the same length."""

MAX_IMAGE_PIXELS = 1 << 25
"""Images (and each video frame): width x height from the header, at most 2^25 (33.5 Mpixel, e.g. 8192 x 4096;
128 MiB as RGBA)."""

MAX_VIDEO_ELEMENTS = 1 << 28
"""Video: the decoded frames kept before temporal sampling, frames x height x width x 3 bytes, at most 2^28
(256 MiB: 21,845 frames of 64 x 64)."""

MAX_ARRAY_ELEMENTS = 1 << 26
"""``.npy``/``.npz``: elements of the array read, from its header (in an ``.npz`` every member's header is read,
none is decompressed first), at most 2^26 (512 MiB as float64)."""

MAX_TEXT_BYTES = 1 << 20
"""Text files: at most the first 1 MiB is read (a model sees its first ``max_length`` tokens; the tokenizer
also cuts every text to a budget of characters before tokenizing, :meth:`omnivec.nn.tokenizer.TextTokenizer.batch`)."""


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


def check_limit(n: int, path: object, what: str, limit: int, option: str) -> None:
    """Refuse a decoded size ``n`` (from a header, before decoding) above ``limit``, naming the ReadOptions
    field ``option`` that raises it."""
    if n > limit:
        raise TooLarge(path, what, n, limit, option)


def inside(root: StrPath, value: StrPath) -> Path:
    """``value`` (a path from a data file: relative to ``root``, or absolute) as a path inside ``root``.

    Symbolic links are resolved first, so ``..``, an absolute path elsewhere and a link pointing out of ``root``
    are all refused (:class:`~omnivec.errors.OutsideRoot`) without the target being opened."""
    base = Path(root).resolve()
    target = (base / value).resolve()  # an absolute value replaces base: it must still land inside
    if target != base and base not in target.parents:
        raise OutsideRoot(value, root)
    return target
