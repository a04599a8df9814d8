"""FSDD (Free Spoken Digit Dataset): 3,000 8 kHz recordings ``{digit}_{speaker}_{index}.wav``; the official
split puts recordings 0-4 of every speaker and digit in test. Audio is resampled in one pass and can be cached
decoded (:mod:`omnivec.data.cache`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from omnivec.data.base import SampleDataset, TaskSplits
from omnivec.data.cache import cached_arrays
from omnivec.data.datasets.cards import FSDD_SPEAKERS, info
from omnivec.data.datasets.loading import LOADERS, subsample
from omnivec.data.datasets.verify import dataset_dir, fsdd_files, verify_dataset
from omnivec.data.readers.audio import read_audio_native
from omnivec.data.resample import resample_many
from omnivec.data.root import StrPath
from omnivec.errors import DataError
from omnivec.types import Modality


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


def load_fsdd_split(
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
    train = load_fsdd_split(rows, "train", sample_rate, limit, seed, cache_dir)
    test = load_fsdd_split(rows, "test", sample_rate, limit, seed, cache_dir)
    meta = info("fsdd")
    return TaskSplits(train, test, Modality.AUDIO, "classification", list(meta.class_names), meta.description, "real")


LOADERS.register("fsdd")(load_fsdd)
