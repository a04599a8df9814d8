"""Where a command may write: never onto one of its inputs, never into or over an existing run folder unless
asked to (``--overwrite``), never a file where a folder is expected or the reverse.

``merge --out EXISTING_RUN`` used to replace that run's config and weights and leave its old train state and
eval behind (a chimera no command could tell from a real run); ``--out`` equal to an input wrote ``alpha_*``
folders into it. These checks run before anything is read or written, so a refused command changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omnivec.checkpoint import CONFIG
from omnivec.errors import OmnivecError


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


__all__ = ["check_output_file", "check_output_folder", "is_run_folder"]
