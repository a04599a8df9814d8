"""One writer per run folder: an OS file lock on ``RUN/.lock``, held for the life of the run.

``fcntl.flock`` (stdlib, Linux and macOS) rather than a lock *file* whose existence is the lock: the kernel drops
a flock when its process dies, however it dies (``kill -9``, OOM, power loss), so a crashed run can never leave a
lock that blocks the next one. Its pid, written into the file after the lock is taken, only serves the
messages: a second writer is told which process holds the folder, and a run that takes over the lock of a dead
one says so. ``filelock`` (a torch dependency) wraps the same call but does not give us the holder's pid.
Under ``torchrun`` only rank 0 writes the folder, so only rank 0 takes the lock.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from types import TracebackType

from omnivec.errors import OmnivecError

LOCK = ".lock"


class RunLock:
    """``with RunLock(run_dir):`` -- refuse, naming the holder's pid, when another live process holds it."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise OmnivecError(
                f"{self.path.parent} is in use by another omnivec process (pid {holder or 'unknown'}); "
                "wait for it to finish or choose another --out"
            ) from None
        previous = _read_pid(fd)
        if previous and previous != os.getpid() and _alive(previous) is False:
            print(f"{self.path}: taking over the lock of pid {previous}, which is no longer running", file=sys.stderr)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return None  # exists but not ours
    return True


__all__ = ["LOCK", "RunLock"]
