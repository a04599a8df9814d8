"""Where a command may write: never onto one of its inputs, never into or over an existing run folder unless
asked to (``--overwrite``), never a file where a folder is expected or the reverse.

``merge --out EXISTING_RUN`` used to replace that run's config and weights and leave its old train state and
eval behind (a chimera no command could tell from a real run); ``--out`` equal to an input wrote ``alpha_*``
folders into it. These checks run before anything is read or written, so a refused command changes nothing.

A folder output is written by :func:`staged_folder`: into a temporary sibling, which replaces ``--out`` by a
rename only once everything in it is written. ``merge --overwrite`` with a missing or incompatible input used to
delete the old folder first and then refuse; now a refusal, an error or a kill leaves ``--out`` as it was.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from omnivec.errors import OmnivecError
from omnivec.training.checkpoint import CONFIG


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and (path / CONFIG).is_file()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _check_inputs(out: Path, inputs: Sequence[Path]) -> None:
    target = out.resolve()
    for given in inputs:
        src = given.resolve()
        if target == src:
            raise OmnivecError(f"--out {out} is one of the inputs ({given}); choose a new path")
        if src.is_dir() and _inside(target, src):
            raise OmnivecError(f"--out {out} is inside the input folder {given}; choose a path outside it")
        if out.is_dir() and _inside(src, target):
            raise OmnivecError(f"--out {out} contains the input {given}; choose a new folder")


def check_output_file(out: Path, inputs: Sequence[Path], overwrite: bool = False) -> None:
    """A file to write (``embed``'s .npy, ``export``'s .onnx)."""
    if out.is_dir():
        raise OmnivecError(f"--out {out} is a folder; expected a file path to write")
    _check_inputs(out, inputs)
    parent = out.parent if str(out.parent) else Path(".")
    if is_run_folder(parent) and not overwrite:
        raise OmnivecError(f"--out {out} would write into the run folder {parent}; choose a path outside it")


def check_output_folder(out: Path, inputs: Sequence[Path], overwrite: bool = False) -> None:
    """A folder to write (``merge``'s run folder or α grid)."""
    if out.exists() and not out.is_dir():
        raise OmnivecError(f"--out {out} is a file; expected a folder to write")
    _check_inputs(out, inputs)
    if is_run_folder(out) and not overwrite:
        raise OmnivecError(f"--out {out} is an existing run folder; choose a new folder or pass --overwrite")
    if out.is_dir() and any(out.iterdir()) and not is_run_folder(out) and not overwrite:
        raise OmnivecError(f"--out {out} is a folder that is not empty; choose a new folder or pass --overwrite")


OWNER = ".omnivec-output"
"""Names the command that wrote a folder it rewrites whole on every run (``reproduce``'s, ``recipe``'s)."""


def claim_folder(out: Path, command: str, legacy: Sequence[str] = ()) -> None:
    """Start ``out`` afresh for ``command``, which rewrites it whole on every run. The old folder is deleted
    only when it is empty or this command's own earlier output (its :data:`OWNER` file names the command, or,
    in a folder from before that file, one of the ``legacy`` files it writes is there); any other folder (a
    run, a user's data) is refused unchanged: these commands used to delete whatever ``--out`` named."""
    if out.exists():
        if not out.is_dir():
            raise OmnivecError(f"--out {out} is a file; expected a folder to write")
        owner = out / OWNER
        own = owner.is_file() and owner.read_text().strip() == command
        if any(out.iterdir()) and not own and not any((out / f).exists() for f in legacy):
            raise OmnivecError(
                f"--out {out} is a folder that {command} did not write, and {command} replaces --out whole; "
                "choose a new folder"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    owner = out / OWNER
    owner.write_text(command + "\n")


def _staging(out: Path) -> tuple[Path, Path]:
    """(the sibling being filled, the sibling the old ``out`` is moved to while it is replaced)."""
    return out.parent / f".{out.name}.tmp", out.parent / f".{out.name}.old.tmp"


def recover_staged(out: Path) -> None:
    """Clean what a killed :func:`staged_folder` left beside ``out``: its unfinished sibling is deleted, and an
    old ``out`` moved aside just before the kill is put back (or deleted, when the new one was in place)."""
    tmp, old = _staging(out)
    if old.is_dir():
        if out.exists():
            shutil.rmtree(old)
        else:
            os.replace(old, out)
    if tmp.is_dir():
        shutil.rmtree(tmp)


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """An empty temporary sibling of ``out`` to fill. When the block completes, it replaces ``out`` (two
    renames); when the block raises, it is deleted and ``out`` is untouched. Call it only after every input has
    been checked: nothing is written before, and a kill at any instant leaves the old ``out`` or the new one
    (:func:`recover_staged` runs first and puts things right)."""
    tmp, old = _staging(out)
    recover_staged(out)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    if old.exists():
        shutil.rmtree(old)


__all__ = [
    "check_output_file",
    "check_output_folder",
    "claim_folder",
    "is_run_folder",
    "recover_staged",
    "staged_folder",
]
