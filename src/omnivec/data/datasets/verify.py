"""Is a dataset there, and is it the verified copy? Two strengths of the same question:

* :func:`verify_dataset` — what every loader runs: sha256 of the files it reads (remembered per process), and
  it stops at the first mismatch with a :class:`DataError`;
* :func:`check` — ``omnivec data check``: every file of a dataset, checksum *and* a full decode, naming each
  missing, corrupt or unreadable one with its reason rather than stopping at the first.

:func:`is_present` and :func:`list_datasets` only look for the files (``omnivec data list``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omnivec.data.datasets.cards import DATASETS, FSDD_SPEAKERS, FileInfo, info
from omnivec.data.readers.audio import read_audio_native
from omnivec.data.readers.idx import read_idx
from omnivec.data.readers.text import read_table
from omnivec.data.root import StrPath, require_root, resolve_root
from omnivec.errors import DataError


def sha256_file(path: StrPath, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def dataset_dir(name: str, root: StrPath | None = None) -> Path:
    """The dataset's folder under the data root; clear error if no root or no dataset."""
    meta = info(name)
    folder = require_root(root, f"dataset {name!r}") / meta.folder
    if not folder.is_dir():
        raise DataError(
            folder,
            f"dataset {name!r} not found; fetch it with `omnivec data download {name}` or point "
            f"--data-root / OMNIVEC_DATA at the folder that holds {meta.folder}/",
        )
    return folder


def is_present(name: str, root: StrPath | None = None) -> bool:
    """True when every catalogued file (and for FSDD every recording) exists; checksums are not read."""
    resolved = resolve_root(root)
    meta = info(name)
    if resolved is None:
        return False
    folder = resolved / meta.folder
    if not all((folder / f.path).is_file() for f in meta.files):
        return False
    return meta.tree is None or len(list(folder.glob(meta.tree.pattern))) == meta.tree.count


_VERIFIED: set[tuple[str, int, int]] = set()


def verify_file(folder: Path, f: FileInfo) -> None:
    """sha256-check one file (remembered per path/size/mtime within the process, so reloading is cheap)."""
    p = folder / f.path
    if not p.is_file():
        raise DataError(p, "missing file")
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key in _VERIFIED:
        return
    got = sha256_file(p)
    if got != f.sha256:
        raise DataError(p, f"sha256 mismatch: expected {f.sha256}, got {got} (corrupt or a different version)")
    _VERIFIED.add(key)


def tree_digest(paths: Sequence[Path]) -> str:
    """sha256 of the sorted per-file sha256 hex digests, one per line with a trailing newline each."""
    lines = sorted(sha256_file(p) for p in paths)
    return hashlib.sha256("".join(d + "\n" for d in lines).encode()).hexdigest()


def verify_dataset(name: str, root: StrPath | None = None, files: Sequence[str] | None = None) -> None:
    """Raise DataError naming the first file whose checksum is wrong (only ``files`` when given)."""
    meta = info(name)
    folder = dataset_dir(name, root)
    for f in meta.files:
        if files is None or f.path in files:
            verify_file(folder, f)
    if meta.tree is not None and (files is None or meta.tree.pattern in files):
        paths = sorted(folder.glob(meta.tree.pattern))
        key = (
            str(folder / meta.tree.pattern),
            len(paths),
            max((p.stat().st_mtime_ns for p in paths), default=0),
        )
        if key in _VERIFIED:
            return
        if len(paths) != meta.tree.count:
            raise DataError(
                folder, f"expected {meta.tree.count} files matching {meta.tree.pattern}, found {len(paths)}"
            )
        got = tree_digest(paths)
        if got != meta.tree.digest:
            raise DataError(
                folder / meta.tree.pattern,
                f"tree digest mismatch: expected {meta.tree.digest}, got {got}"
                " (run `omnivec data check fsdd` to name the bad file)",
            )
        _VERIFIED.add(key)


@dataclass
class Problem:
    path: str
    reason: str


@dataclass
class CheckReport:
    name: str
    folder: str
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = f"{self.name}: {self.checked} files checked in {self.seconds:.1f}s, "
        if self.ok:
            return head + "all OK"
        lines = [head + f"{len(self.problems)} problem(s):"]
        return "\n".join(lines + [f"  {p.path}: {p.reason}" for p in self.problems])


def _decode(path: Path) -> None:
    """Fully decode one catalogued file by its kind; raises DataError on failure."""
    name = path.name
    if name.endswith(".gz") and "idx" in name:
        read_idx(path)
    elif path.suffix in (".csv", ".tsv", ".jsonl"):
        read_table(path)
    elif path.suffix == ".json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(path, f"not valid JSON ({e})") from None
    elif path.suffix == ".wav":
        read_audio_native(path)


def check(name: str, root: StrPath | None = None, decode: bool = True) -> CheckReport:
    """Verify every file of ``name`` (presence, size, sha256, and a decode when ``decode``)."""
    meta = info(name)
    start = time.perf_counter()
    folder = dataset_dir(name, root)
    report = CheckReport(name, str(folder))
    for f in meta.files:
        p = folder / f.path
        report.checked += 1
        if not p.is_file():
            report.problems.append(Problem(str(p), "missing"))
            continue
        got = sha256_file(p)
        if got != f.sha256:
            size = p.stat().st_size
            why = f"sha256 mismatch (expected {f.sha256[:12]}…, got {got[:12]}…; {size:,} bytes vs {f.size:,})"
            report.problems.append(Problem(str(p), why))
        if decode:
            try:
                _decode(p)
            except DataError as e:
                report.problems.append(Problem(e.path, e.reason))
    if meta.tree is not None:
        _check_tree(name, folder, root, decode, report)
    report.seconds = time.perf_counter() - start
    return report


def fsdd_files(root: StrPath | None = None) -> list[tuple[Path, int, str, int]]:
    """(path, digit, speaker, index) of every recording, sorted by (digit, speaker, index)."""
    folder = dataset_dir("fsdd", root) / "recordings"
    out = []
    for p in folder.glob("*.wav"):
        parts = p.stem.split("_")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit():
            raise DataError(p, "FSDD file name is not {digit}_{speaker}_{index}.wav")
        out.append((p, int(parts[0]), parts[1], int(parts[2])))
    return sorted(out, key=lambda r: (r[1], r[2], r[3]))


def _check_tree(name: str, folder: Path, root: StrPath | None, decode: bool, report: CheckReport) -> None:
    tree = meta_tree = info(name).tree
    assert tree is not None and meta_tree is not None
    paths = sorted(folder.glob(tree.pattern))
    if name == "fsdd":
        expected = {f"{d}_{s}_{i}.wav" for d in range(10) for s in FSDD_SPEAKERS for i in range(50)}
        have = {p.name for p in paths}
        report.problems += [Problem(str(folder / "recordings" / n), "missing") for n in sorted(expected - have)]
        report.problems += [Problem(str(folder / "recordings" / n), "unexpected file") for n in sorted(have - expected)]
        try:
            fsdd_files(root)
        except DataError as e:
            report.problems.append(Problem(e.path, e.reason))
    elif len(paths) != tree.count:
        report.problems.append(Problem(str(folder / tree.pattern), f"{len(paths)} files, expected {tree.count}"))
    bad_before = len(report.problems)
    if decode:
        for p in paths:
            report.checked += 1
            try:
                _decode(p)
            except DataError as e:
                report.problems.append(Problem(e.path, e.reason))
    got = tree_digest(paths)
    if got != tree.digest and len(report.problems) == bad_before:
        why = f"tree digest {got[:12]}… != {tree.digest[:12]}…: a file differs from the verified copy"
        report.problems.append(Problem(str(folder / tree.pattern), why))


def list_datasets(root: StrPath | None = None) -> dict[str, bool]:
    """Presence of every catalogued dataset under the data root (False for all when no root is set)."""
    return {name: is_present(name, root) for name, _ in DATASETS.items()}
