"""``omnivec data check / list / prepare``: verify staged datasets file by file and build the caches.

:func:`check` reads every file of a dataset — checksum *and* a full decode — and names each missing, corrupt
or unreadable one with its reason, rather than stopping at the first. :func:`prepare` builds the derived
tasks' caches (decoded/resampled FSDD audio, digit scenes) as ``.npz`` files keyed by a hash of their
parameters, in the cache folder (``$OMNIVEC_CACHE`` or ``~/.cache/omnivec``), never inside the repository.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from omnivec.data.cache import cache_path, cached_arrays
from omnivec.data.catalogue import DATASETS, FSDD_SPEAKERS
from omnivec.data.checks import sha256_file
from omnivec.data.datasets import dataset_dir, fsdd_cache_params, fsdd_files, info, is_present, tree_digest
from omnivec.data.derived import digit_scenes, scenes_to_arrays
from omnivec.data.idx import read_idx
from omnivec.data.readers import read_audio_native, read_table
from omnivec.data.root import StrPath, resolve_cache, resolve_root
from omnivec.errors import DataError


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
    return {name: is_present(name, root) for name in DATASETS}


def prepare(
    root: StrPath | None = None,
    cache_dir: StrPath | None = None,
    *,
    seed: int = 0,
    sample_rates: tuple[int, ...] = (16000,),
    scenes: tuple[int, int] = (2000, 500),
    canvas: int = 64,
) -> dict[str, Path]:
    """Build the caches the derived tasks reuse: FSDD audio decoded and resampled to each of
    ``sample_rates``, and MNIST digit scenes (train, test). Returns {cache name: file}; datasets that are
    not present are skipped."""
    from omnivec.data.datasets import load_fsdd

    out: dict[str, Path] = {}
    cache = resolve_cache(cache_dir)
    if resolve_root(root) is None:
        return out
    if is_present("fsdd", root):
        for sr in sample_rates:
            fsdd = load_fsdd(root, sample_rate=sr, cache_dir=cache)
            for split, ds in (("train", fsdd.train), ("test", fsdd.test)):
                rows = [(Path(p), 0, "", 0) for p in ds.paths]  # type: ignore[attr-defined]
                out[f"fsdd-audio-{sr}-{split}"] = cache_path("fsdd-audio", fsdd_cache_params(rows, sr), cache)
    if is_present("mnist", root):
        for split, n in zip(("train", "test"), scenes):
            _, path = cached_scenes_arrays(n, seed, split=split, root=root, canvas=canvas, cache_dir=cache)
            out[f"scenes-mnist-{split}"] = path
    return out


def cached_scenes_arrays(
    n: int,
    seed: int = 0,
    *,
    source: str = "mnist",
    split: str = "train",
    root: StrPath | None = None,
    canvas: int = 64,
    min_items: int = 2,
    max_items: int = 4,
    cache_dir: StrPath | None = None,
) -> tuple[dict, Path]:
    """Digit scenes as arrays (see ``derived.scenes_from_arrays``), from the cache or built and cached."""
    digests = [f.sha256 for f in info(source).files]
    params = {
        "n": n,
        "seed": seed,
        "source": source,
        "split": split,
        "canvas": canvas,
        "items": [min_items, max_items],
        "source_sha256": digests,
    }

    def build() -> dict:
        scenes = digit_scenes(
            n, seed, source=source, split=split, root=root, canvas=canvas, min_items=min_items, max_items=max_items
        )
        return scenes_to_arrays(scenes)

    return cached_arrays(f"scenes-{source}-{split}", params, build, cache_dir)
