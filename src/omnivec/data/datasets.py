"""Named real datasets with fixed, documented splits and sha256 verification.

``load_dataset(name, root)`` returns :class:`TaskSplits` per the contract in :mod:`omnivec.data.base`:
MNIST / Fashion-MNIST images as float32 (1, 28, 28) in [0, 1] (converted lazily, one sample at a time),
FSDD audio as 1-D float32 at ``sample_rate``, Banking77 and SciTLDR as text. ``limit`` takes a deterministic
subset of every split (a seeded permutation, kept in file order) for benchmarks and tests. Dataset cards:
``docs/data.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from omnivec.data.audio import resample_many
from omnivec.data.base import SampleDataset, TaskSplits
from omnivec.data.cache import cached_arrays
from omnivec.data.catalogue import DATASETS, FSDD_SPEAKERS, DatasetInfo, FileInfo
from omnivec.data.checks import sha256_file
from omnivec.data.idx import read_idx
from omnivec.data.readers import read_audio_native, read_table
from omnivec.data.root import StrPath, require_root, resolve_root
from omnivec.errors import DataError, OmnivecError
from omnivec.types import Modality

__all__ = [
    "DATASETS",
    "LOADERS",
    "DatasetInfo",
    "LazySeq",
    "SpokenDigitDataset",
    "SummaryDataset",
    "dataset_dir",
    "digit_arrays",
    "fsdd_cache_params",
    "fsdd_files",
    "fsdd_split",
    "info",
    "is_present",
    "load_banking77",
    "load_dataset",
    "load_fashion_mnist",
    "load_fsdd",
    "load_mnist",
    "load_scitldr",
    "load_scitldr_split",
    "subsample",
    "tree_digest",
    "verify_dataset",
    "verify_file",
]


class LazySeq(Sequence[Any]):
    """A read-only sequence computing item ``i`` on access (e.g. uint8 -> float image), so a 60k-image split
    costs its uint8 bytes, not 4x that in float32."""

    def __init__(self, n: int, get: Callable[[int], Any]) -> None:
        self._n, self._get = n, get

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._get(j) for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return self._get(i % self._n)


class SpokenDigitDataset(SampleDataset):
    """FSDD split: samples are waveforms, targets digits; ``speakers``/``indices``/``paths`` per sample."""

    def __init__(
        self,
        samples: Sequence[Tensor],
        digits: list[int],
        speakers: list[str],
        indices: list[int],
        paths: list[str],
        name: str,
    ) -> None:
        super().__init__(Modality.AUDIO, samples, digits, [str(d) for d in range(10)], name)
        self.speakers = speakers
        self.indices = indices
        self.paths = paths


class SummaryDataset(SampleDataset):
    """SciTLDR split: sample = abstract, target = first TLDR; ``references`` keeps all TLDRs per paper."""

    def __init__(
        self,
        samples: list[str],
        references: list[list[str]],
        titles: list[str],
        paper_ids: list[str],
        name: str,
    ) -> None:
        super().__init__(Modality.TEXT, samples, [r[0] for r in references], (), name)
        self.references = references
        self.titles = titles
        self.paper_ids = paper_ids


# ------------------------------------------------------------------------------------------ location, checks


def info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise OmnivecError(f"unknown dataset {name!r}; expected one of: {', '.join(DATASETS)}") from None


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


def subsample(n: int, limit: int | None, seed: int = 0) -> np.ndarray:
    """Indices of a deterministic subset of ``range(n)`` of size ``limit`` (all if None), in order."""
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


# ------------------------------------------------------------------------------------------ image datasets


@lru_cache(maxsize=8)
def _idx_pair(images: str, labels: str) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(images, expect_ndim=3)
    y = read_idx(labels, expect_ndim=1)
    if len(x) != len(y):
        raise DataError(images, f"{len(x)} images but {labels} holds {len(y)} labels")
    if y.max() > 9:
        raise DataError(labels, f"label {int(y.max())} outside 0..9")
    return x, y.astype(np.int64)


def digit_arrays(
    name: str = "mnist", split: str = "train", root: StrPath | None = None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Raw uint8 images (N, 28, 28) and int64 labels (N,) of MNIST / Fashion-MNIST (derived tasks' input)."""
    if name not in ("mnist", "fashion-mnist"):
        raise OmnivecError(f"digit arrays come from mnist or fashion-mnist, not {name!r}")
    if split not in ("train", "test"):
        raise OmnivecError(f"{name} splits are train and test, not {split!r}")
    folder = dataset_dir(name, root)
    prefix = "train" if split == "train" else "t10k"
    files = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
    if verify:
        verify_dataset(name, root, files)
    return _idx_pair(str(folder / files[0]), str(folder / files[1]))


def _image_split(
    name: str, split: str, root: StrPath | None, limit: int | None, seed: int, verify: bool
) -> SampleDataset:
    x, y = digit_arrays(name, split, root, verify)
    idx = subsample(len(x), limit, seed)
    images = torch.from_numpy(x)  # (N, 28, 28) uint8, shared, not copied

    def get(i: int) -> Tensor:
        return images[int(idx[i])].unsqueeze(0).float().div_(255.0)  # (1, 28, 28) float in [0, 1]

    return SampleDataset(
        Modality.IMAGE, LazySeq(len(idx), get), y[idx].tolist(), info(name).class_names, f"{name}/{split}"
    )


def _image_task(name: str, root: StrPath | None, limit: int | None, seed: int, verify: bool) -> TaskSplits:
    meta = info(name)
    train = _image_split(name, "train", root, limit, seed, verify)
    test = _image_split(name, "test", root, limit, seed, verify)
    return TaskSplits(train, test, Modality.IMAGE, "classification", list(meta.class_names), meta.description, "real")


def load_mnist(
    root: StrPath | None = None, *, limit: int | None = None, seed: int = 0, verify: bool = True
) -> TaskSplits:
    """MNIST, official split 60,000 / 10,000; images (1, 28, 28) float in [0, 1], labels 0-9."""
    return _image_task("mnist", root, limit, seed, verify)


def load_fashion_mnist(
    root: StrPath | None = None, *, limit: int | None = None, seed: int = 0, verify: bool = True
) -> TaskSplits:
    """Fashion-MNIST, official split 60,000 / 10,000; images (1, 28, 28), labels 0-9 (see FASHION_CLASSES)."""
    return _image_task("fashion-mnist", root, limit, seed, verify)


# ------------------------------------------------------------------------------------------ FSDD


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


def fsdd_split(index: int) -> str:
    """The official FSDD split: recordings 0-4 of every speaker and digit are test, 5-49 train."""
    return "test" if index <= 4 else "train"


def _read_resampled(paths: list[Path], sample_rate: int) -> list[Tensor]:
    """Decode at 8 kHz, then resample all clips in one pass (see ``audio.resample_many``)."""
    native = [read_audio_native(p) for p in paths]
    rates = {sr for _, sr in native}
    if len(rates) > 1:
        raise DataError(paths[0].parent, f"FSDD recordings should all be 8000 Hz, found rates {sorted(rates)}")
    if not native:
        return []
    return resample_many([w for w, _ in native], rates.pop(), sample_rate)


def fsdd_cache_params(rows: list[tuple[Path, int, str, int]], sample_rate: int) -> dict[str, Any]:
    tree = info("fsdd").tree
    return {
        "dataset": "fsdd",
        "sample_rate": sample_rate,
        "digest": tree.digest if tree else "",
        "files": [p.name for p, *_ in rows],
    }


def _fsdd_waves(rows: list[tuple[Path, int, str, int]], sample_rate: int, cache_dir: StrPath | None) -> list[Tensor]:
    if cache_dir is None:
        return _read_resampled([p for p, *_ in rows], sample_rate)
    params = fsdd_cache_params(rows, sample_rate)

    def build() -> dict[str, np.ndarray]:
        waves = [w.numpy() for w in _read_resampled([p for p, *_ in rows], sample_rate)]
        offsets = np.cumsum([0] + [len(w) for w in waves])
        return {"audio": np.concatenate(waves).astype(np.float32), "offsets": offsets}

    arrays, _ = cached_arrays("fsdd-audio", params, build, cache_dir)
    audio, offsets = torch.from_numpy(arrays["audio"]), arrays["offsets"]
    return [audio[offsets[i] : offsets[i + 1]] for i in range(len(rows))]


def _fsdd_split(
    rows: list, split: str, sample_rate: int, limit: int | None, seed: int, cache_dir: StrPath | None
) -> SpokenDigitDataset:
    rows = [r for r in rows if fsdd_split(r[3]) == split]
    rows = [rows[i] for i in subsample(len(rows), limit, seed)]
    waves = _fsdd_waves(rows, sample_rate, cache_dir)
    return SpokenDigitDataset(
        waves,
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [str(r[0]) for r in rows],
        f"fsdd/{split}",
    )


def load_fsdd(
    root: StrPath | None = None,
    *,
    sample_rate: int = 8000,
    limit: int | None = None,
    seed: int = 0,
    verify: bool = True,
    cache_dir: StrPath | None = None,
) -> TaskSplits:
    """FSDD: 2,700 train / 300 test recordings (test = index 0-4), label = digit; each split also carries
    ``speakers``. Audio is resampled from 8 kHz to ``sample_rate``; ``cache_dir`` caches the decoded audio."""
    if verify:
        verify_dataset("fsdd", root)
    rows = fsdd_files(root)
    unknown = sorted({r[2] for r in rows} - set(FSDD_SPEAKERS))
    if unknown:
        raise DataError(dataset_dir("fsdd", root), f"unknown speakers {unknown}")
    train = _fsdd_split(rows, "train", sample_rate, limit, seed, cache_dir)
    test = _fsdd_split(rows, "test", sample_rate, limit, seed, cache_dir)
    meta = info("fsdd")
    return TaskSplits(train, test, Modality.AUDIO, "classification", list(meta.class_names), meta.description, "real")


# ------------------------------------------------------------------------------------------ text


def load_banking77(
    root: StrPath | None = None, *, limit: int | None = None, seed: int = 0, verify: bool = True
) -> TaskSplits:
    """Banking77: train 10,003 / test 3,080 queries; class = index in categories.json (77)."""
    folder = dataset_dir("banking77", root)
    if verify:
        verify_dataset("banking77", root, ["train.csv", "test.csv", "categories.json"])
    try:
        classes = json.loads((folder / "categories.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(folder / "categories.json", f"not a JSON list of intents ({e})") from None
    if not isinstance(classes, list) or len(set(classes)) != len(classes):
        raise DataError(folder / "categories.json", "expected a JSON list of distinct intent names")
    index = {c: i for i, c in enumerate(classes)}
    splits = {}
    for split in ("train", "test"):
        path = folder / f"{split}.csv"
        rows = read_table(path, required=("text", "category"))
        bad = sorted({r["category"] for r in rows} - set(index))
        if bad:
            raise DataError(path, f"categories not in categories.json: {bad[:5]}")
        keep = subsample(len(rows), limit, seed)
        texts = [rows[i]["text"] for i in keep]
        labels = [index[rows[i]["category"]] for i in keep]
        splits[split] = SampleDataset(Modality.TEXT, texts, labels, classes, f"banking77/{split}")
    meta = info("banking77")
    return TaskSplits(
        splits["train"], splits["test"], Modality.TEXT, "classification", classes, meta.description, "real"
    )


def load_scitldr_split(
    split: str, root: StrPath | None = None, *, limit: int | None = None, seed: int = 0, verify: bool = True
) -> SummaryDataset:
    """One SciTLDR-A split (train/dev/test): abstract (source sentences joined by spaces) -> first TLDR."""
    if split not in ("train", "dev", "test"):
        raise OmnivecError(f"scitldr splits are train, dev and test, not {split!r}")
    rel = f"SciTLDR-A/{split}.jsonl"
    path = dataset_dir("scitldr", root) / rel
    if verify:
        verify_dataset("scitldr", root, [rel])
    rows = read_table(path, required=("source", "target"))
    for n, r in enumerate(rows, 1):
        if not (isinstance(r["source"], list) and r["source"] and isinstance(r["target"], list) and r["target"]):
            raise DataError(path, f"record {n}: 'source' and 'target' must be non-empty lists of sentences")
    keep = subsample(len(rows), limit, seed)
    sel = [rows[i] for i in keep]
    return SummaryDataset(
        [" ".join(s.strip() for s in r["source"]) for r in sel],
        [list(r["target"]) for r in sel],
        [str(r.get("title", "")) for r in sel],
        [str(r.get("paper_id", "")) for r in sel],
        f"scitldr/{split}",
    )


def load_scitldr(
    root: StrPath | None = None,
    *,
    limit: int | None = None,
    seed: int = 0,
    verify: bool = True,
    eval_split: str = "test",
) -> TaskSplits:
    """SciTLDR-A summarization: train (1,992) and ``eval_split`` (test 618 or dev 619). Targets are the first
    TLDR; the split's ``references`` hold every TLDR for ROUGE against multiple references."""
    train = load_scitldr_split("train", root, limit=limit, seed=seed, verify=verify)
    test = load_scitldr_split(eval_split, root, limit=limit, seed=seed, verify=verify)
    return TaskSplits(train, test, Modality.TEXT, "summarization", [], info("scitldr").description, "real")


LOADERS: dict[str, Callable[..., TaskSplits]] = {
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "fsdd": load_fsdd,
    "banking77": load_banking77,
    "scitldr": load_scitldr,
}


def load_dataset(name: str, root: StrPath | None = None, **kwargs: Any) -> TaskSplits:
    """Load a named dataset's fixed splits; kwargs go to its loader (limit, seed, ...)."""
    info(name)
    return LOADERS[name](root, **kwargs)
