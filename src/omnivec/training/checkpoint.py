"""Run folders, atomic writes, and checkpoints written as one unit.

A run folder holds ``config.yaml`` (the resolved :class:`RunConfig`), ``model.safetensors``, ``tokenizer.json`` and
``train_state.pt`` (optimizer, scheduler, RNG and data positions, loaded with ``weights_only=True``). Every file
is written to a temporary name in the same folder and renamed into place, so a crash never leaves half a file.

Files that must agree with each other (weights, EMA, optimizer and RNG state, the config they were saved with)
are written as one *checkpoint*: a folder ``checkpoints/.ckpt-000123.tmp`` filled in full, closed with a
``manifest.json`` naming the step and every file's sha256, then renamed to ``checkpoints/ckpt-000123`` -- one
atomic rename makes the whole set current. Only then are its files *published* (hard-linked, else copied) to the
top of the run folder, where ``omnivec.load``, ``merge``, ``embed`` and older tools read them. A crash at any
instant therefore leaves the previous complete checkpoint or the new one; :func:`recover` (called at the start of
every resumed run) deletes leftover temporary files, verifies the newest checkpoint's manifest and re-publishes
its files if the crash came between the rename and the publishing. Folders from before checkpoints existed (no
``checkpoints/``) resume from their top-level files as before.

For the crash tests, ``OMNIVEC_CRASH_AFTER_WRITE=k`` makes the process exit hard (``os._exit``) right after its
k-th durable write (each file renamed into place, each folder rename, each published file), and
``OMNIVEC_WRITE_LOG=path`` appends one line per write to ``path``; both are read at every write, cost nothing
when unset, and are never set by omnivec itself.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from omnivec.errors import OmnivecError

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
EMA_WEIGHTS = "ema.safetensors"
TOKENIZER = "tokenizer.json"
TRAIN_STATE = "train_state.pt"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
MANIFEST = "manifest.json"
_CKPT = re.compile(r"^ckpt-(\d{6,})$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()
"""Mode of every file omnivec writes: what ``open()`` would give under the umask (mkstemp alone gives 0600)."""

_write_count = 0


def durable(what: Path | str) -> None:
    """Record one durable write (see the module docstring's crash hooks)."""
    global _write_count
    _write_count += 1
    log = os.environ.get("OMNIVEC_WRITE_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{_write_count}\t{what}\n")
    crash = os.environ.get("OMNIVEC_CRASH_AFTER_WRITE")
    if crash and _write_count == int(crash):
        os._exit(86)


def _fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (the directory entry, not only the file's bytes)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # platforms without directory handles
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, then rename it onto ``path``. A write
    that fails (disk full, read-only folder) leaves no temporary file and is one :class:`OmnivecError` naming
    ``path`` (see :func:`write_failure`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except Exception as e:
        error = write_failure(path, e)
        if error is None:
            raise
        raise error from None
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()
    durable(path)


LOW_SPACE = 1 << 20
"""Free bytes below which a failed write is put down to a full disk: torch.save reports ENOSPC only as
``RuntimeError: unexpected pos``, so the folder's free space is the only witness."""


def write_failure(path: Path, e: BaseException) -> OmnivecError | None:
    """A failed write of ``path`` as one clear error: "disk full" where the OS says so (OSError ENOSPC/EDQUOT,
    safetensors' "os error 28") or the folder has next to no space left; "could not write" for any other
    OSError or SafetensorError. None for anything else, which is a bug and stays one. Called while the partial
    temporary file still exists, so the free space is what the write saw."""
    text = str(e)
    full = isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)
    full = full or any(s in text for s in ("No space left on device", "os error 28", "Disk quota exceeded"))
    if not full and isinstance(e, (OSError, SafetensorError, RuntimeError)):
        with contextlib.suppress(OSError):
            full = shutil.disk_usage(path.parent).free < LOW_SPACE
    if full:
        return OmnivecError(f"{path}: disk full: could not write it (no space left on {path.parent}); free some space")
    if isinstance(e, (OSError, SafetensorError)):
        reason = e.strerror if isinstance(e, OSError) and e.strerror else " ".join(text.split())
        return OmnivecError(f"{path}: could not write it ({reason})")
    return None


def require_new_folder(out: Path) -> None:
    """``out`` must not exist, or be an empty folder: a command that writes a whole folder never mixes its files
    with another run's."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OmnivecError(f"--out {out} already exists and is not empty; choose a new folder")


def atomic_folder(out: Path, write: Callable[[Path], None], replace: bool = False) -> None:
    """Call ``write(tmp)`` on the temporary sibling folder ``.<name>.tmp``, then rename it onto ``out``: a failure
    or a kill part-way leaves no ``out`` behind (and whatever ``out`` was, unchanged). ``out`` must be new or
    empty, unless ``replace``: then an existing ``out`` is swapped for the new folder only once that is complete.
    What a killed earlier write to the same ``out`` left is cleaned up first (a previous folder caught between
    the two renames of a swap is put back). Two commands writing one ``out`` at the same time are not supported."""
    out = Path(out)
    tmp, old = out.parent / f".{out.name}.tmp", out.parent / f".{out.name}.old.tmp"
    if old.is_dir():
        shutil.rmtree(old) if out.exists() else os.replace(old, out)
    if tmp.is_dir():
        shutil.rmtree(tmp)
    if out.exists() and not out.is_dir():
        raise OmnivecError(f"--out {out} is a file, not a folder")
    if not replace:
        require_new_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.mkdir()
        write(tmp)
        _fsync_dir(tmp)
        if out.exists() and any(out.iterdir()):  # replace: the only instant without an out is between these
            os.replace(out, old)
        elif out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        if old.is_dir() and not out.exists():
            os.replace(old, out)  # the previous folder back, as it was
        raise
    finally:
        for leftover in (tmp, old):
            if leftover.is_dir():
                shutil.rmtree(leftover)
    _fsync_dir(out.parent)
    durable(out)


def atomic_write_text(path: Path, text: str) -> None:
    def write(p: Path) -> None:
        p.write_text(text)

    atomic_write(path, write)


def save_weights(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    # safetensors refuses shared storage; contiguous clones keep tied weights saveable.
    tensors = {k: v.detach().contiguous().clone() for k, v in state.items()}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=metadata))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """safetensors only: a file that is not one (a pickle, say) is refused, never unpickled."""
    path = Path(path)
    if not path.is_file():
        raise OmnivecError(f"weights file {path} does not exist")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise OmnivecError(f"{path}: not a valid safetensors file ({e})") from None


def check_finite_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse weights holding NaN or inf: every output computed from them would be NaN, silently."""
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            n = int((~torch.isfinite(value)).sum())
            raise OmnivecError(f"{path}: tensor {key!r} holds {n} non-finite value(s) (NaN or inf)")


def load_into(module: torch.nn.Module, path: Path) -> None:
    """Load the safetensors file ``path`` into ``module``, once its keys, shapes, dtypes and values are checked
    (:func:`omnivec.training.state_check.check_weights`)."""
    from omnivec.training.state_check import check_weights

    state = load_weights(path)
    check_finite_weights(state, path)
    check_weights(state, module.state_dict(), path, "the model")
    module.load_state_dict(state)


def save_state(state: dict[str, Any], path: Path) -> None:
    atomic_write(path, lambda p: torch.save(state, p))


def load_state(path: Path) -> dict[str, Any]:
    """Training state (optimizer, scheduler, RNG): tensors and plain containers only. Whether its tensors fit the
    model is :func:`omnivec.training.state_check.check_train_state`'s job."""
    path = Path(path)
    if not path.is_file():
        raise OmnivecError(f"{path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError or RuntimeError for refused payloads
        raise OmnivecError(f"{path}: refused to load training state ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise OmnivecError(f"{path}: expected a mapping of training state, got {type(state).__name__}")
    return state


# --------------------------------------------------------------------------------------------- checkpoints


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_dirs(run_dir: Path) -> list[tuple[int, Path]]:
    """The complete checkpoint folders of a run, oldest first (temporary ones are not listed)."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _CKPT.match(p.name)) and p.is_dir()]
    return sorted(found)


def write_checkpoint(run_dir: Path, step: int, fill: Callable[[Path], None], keep: int = 2) -> Path:
    """Write the checkpoint of ``step`` as one unit: ``fill(folder)`` writes every file into a temporary folder,
    the manifest closes it, one rename makes it current; then its files are published to ``run_dir`` and all
    but the newest ``keep`` checkpoints are pruned. Returns the checkpoint folder."""
    run_dir = Path(run_dir)
    root = run_dir / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"ckpt-{step:06d}"
    tmp = root / f".{final.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        fill(tmp)
        files = {p.name: sha256(p) for p in sorted(tmp.iterdir()) if p.is_file() and not p.name.startswith(".")}
        atomic_write_text(tmp / MANIFEST, json.dumps({"step": step, "files": files}, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk gets its space back now, not at the next start
        raise
    if final.exists():  # rewritten at the same step (a resume that trained no further): swap, never lose both
        old = root / f".{final.name}.old.tmp"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    _fsync_dir(root)
    durable(final)
    publish(final, run_dir, files)
    for _, old_dir in checkpoint_dirs(run_dir)[: -max(1, keep)]:
        shutil.rmtree(old_dir)
    return final


def publish(ckpt_dir: Path, run_dir: Path, files: dict[str, str]) -> None:
    """Make the checkpoint's files the run folder's top-level files, each replaced atomically. A hard link costs
    no space and no copy; a filesystem without links gets a copy. Nothing writes these files in place (every
    writer renames a new file over the old), so the link never lets one change reach the other."""
    for name in files:
        src, dst = ckpt_dir / name, run_dir / name
        if dst.exists() and os.path.samefile(src, dst):
            continue
        tmp = run_dir / f".{name}.publish.tmp"
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        durable(dst)
    _fsync_dir(run_dir)


def read_manifest(ckpt_dir: Path) -> dict[str, Any]:
    path = ckpt_dir / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise OmnivecError(f"{path}: unreadable checkpoint manifest ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("step"), int) or not isinstance(data.get("files"), dict):
        raise OmnivecError(f"{path}: expected {{'step': int, 'files': {{name: sha256}}}}")
    return data


def verify_checkpoint(ckpt_dir: Path) -> dict[str, Any]:
    """The manifest of a checkpoint folder after checking that every file it names is there with its hash and
    that the train state holds the manifest's step: a pair that does not match is refused, naming the file."""
    manifest = read_manifest(ckpt_dir)
    for name, digest in manifest["files"].items():
        path = ckpt_dir / name
        if not path.is_file():
            raise OmnivecError(f"{path}: missing from its checkpoint (listed in {MANIFEST})")
        if sha256(path) != digest:
            raise OmnivecError(f"{path}: contents differ from {MANIFEST} (sha256); the checkpoint is corrupt")
    return manifest


def clean_temporary(run_dir: Path) -> list[Path]:
    """Delete what an interrupted write leaves behind (``.*.tmp`` files and checkpoint folders), after putting
    back a checkpoint that a crash caught between the two renames of a same-step rewrite. Returns what went."""
    run_dir = Path(run_dir)
    removed: list[Path] = []
    root = run_dir / CHECKPOINTS
    for folder in (run_dir, root):
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if not (p.name.startswith(".") and p.name.endswith(".tmp")):
                continue
            if p.name.endswith(".old.tmp") and not (folder / p.name[1:].removesuffix(".old.tmp")).exists():
                os.replace(p, folder / p.name[1:].removesuffix(".old.tmp"))
                continue
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            removed.append(p)
    return removed


def recover(run_dir: Path) -> Path:
    """Before a resume: clean temporary files, verify the newest checkpoint and make the top-level files its
    own again. Returns the train state to continue from (a folder without checkpoints: its top-level one)."""
    run_dir = Path(run_dir)
    clean_temporary(run_dir)
    found = checkpoint_dirs(run_dir)
    if not found:
        return run_dir / TRAIN_STATE
    step, latest = found[-1]
    manifest = verify_checkpoint(latest)
    if manifest["step"] != step:
        raise OmnivecError(f"{latest / MANIFEST}: says step {manifest['step']} in a folder named for step {step}")
    publish(latest, run_dir, manifest["files"])
    return latest / TRAIN_STATE


def has_state(run_dir: Path) -> bool:
    """Whether a run folder holds a train state to resume from (a complete checkpoint, or an older folder's)."""
    return bool(checkpoint_dirs(run_dir)) or (Path(run_dir) / TRAIN_STATE).is_file()


def check_run_folder(out: Path, resume: bool) -> None:
    """A fresh run must not overwrite another; a resumed one needs the state it continues from. Read-only: a
    refused command leaves the folder byte-identical."""
    if out.exists() and not out.is_dir():
        raise OmnivecError(f"--out {out} is a file, not a run folder; choose a folder")
    if resume and not has_state(out):
        raise OmnivecError(f"--resume: {out} has no {TRAIN_STATE} to continue from")
    if not resume and has_state(out):
        raise OmnivecError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
