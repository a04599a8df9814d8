"""Where the real data and the derived-data caches live.

The data root is resolved as: an explicit argument (``--data-root``) > ``$OMNIVEC_DATA`` > none. Nothing is
guessed beyond that, so a missing dataset always gives one clear error naming both ways to point at it. The
cache folder (decoded audio, derived scenes) is ``$OMNIVEC_CACHE`` or ``~/.cache/omnivec``, never in the repo.
"""

from __future__ import annotations

import os
from pathlib import Path

from omnivec.errors import OmnivecError

DATA_ENV = "OMNIVEC_DATA"
CACHE_ENV = "OMNIVEC_CACHE"

StrPath = str | os.PathLike[str]


def resolve_root(root: StrPath | None = None) -> Path | None:
    """The data root: ``root`` if given, else ``$OMNIVEC_DATA`` if set and non-empty, else None."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV, "")
    return Path(env).expanduser() if env else None


def require_root(root: StrPath | None = None, what: str = "real data") -> Path:
    """Like :func:`resolve_root` but raises a clear :class:`OmnivecError` when no root is configured or it is
    not a folder."""
    resolved = resolve_root(root)
    if resolved is None:
        raise OmnivecError(
            f"{what} needs a data root: pass --data-root DIR or set {DATA_ENV}=DIR "
            f"(the folder holding mnist/, fsdd/, banking77/, ...)"
        )
    if not resolved.is_dir():
        source = "--data-root" if root is not None else DATA_ENV
        raise OmnivecError(f"data root {resolved} (from {source}) is not a folder")
    return resolved


def resolve_cache(cache_dir: StrPath | None = None) -> Path:
    """The cache folder: ``cache_dir`` > ``$OMNIVEC_CACHE`` > ``~/.cache/omnivec``."""
    if cache_dir is not None and str(cache_dir) != "":
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV, "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "omnivec"
