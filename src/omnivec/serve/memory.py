"""What the server holds in memory at once: how many uploads decode together, and giving freed memory back.

Each reader bounds one input (``ReadOptions``: a 2^25-pixel image decodes through ~128 MiB of RGBA), but 32
clients sending such inputs at once decoded 32 of them together: the server went from 350 MB to 4.3 GB.
:class:`DecodeGate` lets at most ``max_decodes`` uploads decode at a time; the others wait their turn in the
event loop (holding only their upload's bytes, at most ``max_upload_mb`` each).

glibc's ``malloc`` keeps what Python, numpy and torch free in its heaps (one arena per thread, up to 8 x cores)
rather than return it to the OS: after the load the server stayed at 2.9 GB. :func:`trim` asks glibc to give the
free pages back (``malloc_trim(0)``); it is called after each decode and each model batch, off the event loop.
Elsewhere (macOS, musl) it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim  # glibc only: musl has no such symbol
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def trim() -> bool:
    """Give the C heap's free pages back to the OS (glibc ``malloc_trim(0)``); False where there is none."""
    fn = _malloc_trim()
    if fn is None:
        return False
    fn(0)
    return True


class DecodeGate:
    """At most ``limit`` decodes at a time, each run in a worker thread and followed by :func:`trim`.

    ``active`` and ``most`` (the highest number decoding together so far) are kept for ``/info`` and tests."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"max_decodes must be >= 1, not {limit}")
        self.limit = limit
        self.active = 0
        self.most = 0
        self._sem: asyncio.Semaphore | None = None  # made in the server's event loop, on first use

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread once fewer than ``limit`` decodes run; then the heap is trimmed."""
        from starlette.concurrency import run_in_threadpool

        if self._sem is None:
            self._sem = asyncio.Semaphore(self.limit)
        async with self._sem:
            self.active += 1
            self.most = max(self.most, self.active)
            try:
                return await run_in_threadpool(_then_trim, fn, *args)
            finally:
                self.active -= 1

    def as_dict(self) -> dict[str, int]:
        return {"max_decodes": self.limit, "decoding": self.active, "most_decoding": self.most}


def _then_trim(fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    finally:  # a refused input (a BadRequest) may have allocated as much as an accepted one
        trim()


__all__ = ["DecodeGate", "trim"]
