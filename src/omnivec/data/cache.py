"""Atomic ``.npz`` caches keyed by a hash of the parameters that built them.

A cache file is ``<cache_dir>/<name>-<key>.npz`` where ``key`` hashes the JSON of the parameters (sorted
keys), so changing any parameter (seed, size, source digest, code version) builds a new file instead of
reusing a stale one. Files are written to a temporary name in the same folder and renamed into place, so a
crash never leaves a half-written cache that a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.data.root import StrPath, resolve_cache

CACHE_VERSION = 1
"""Bump when the layout of any cached array changes, so old caches are not read."""


def cache_key(params: Mapping[str, Any]) -> str:
    blob = json.dumps({"_version": CACHE_VERSION, **params}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_path(name: str, params: Mapping[str, Any], cache_dir: StrPath | None = None) -> Path:
    return resolve_cache(cache_dir) / f"{name}-{cache_key(params)}.npz"


def save_npz_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".npz.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_arrays(
    name: str,
    params: Mapping[str, Any],
    build: Callable[[], Mapping[str, np.ndarray]],
    cache_dir: StrPath | None = None,
) -> tuple[dict[str, np.ndarray], Path]:
    """Load ``name``'s arrays from the cache, or ``build`` them and write the cache atomically."""
    path = cache_path(name, params, cache_dir)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}, path
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # a damaged cache is rebuilt, never trusted
    arrays = dict(build())
    save_npz_atomic(path, arrays)
    return arrays, path
