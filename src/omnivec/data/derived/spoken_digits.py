"""Spoken-digit captions: each FSDD recording described in words from its file name and the speaker metadata
("the digit seven spoken by jackson")."""

from __future__ import annotations

from omnivec.data.base import SampleDataset, TaskSplits
from omnivec.data.datasets.cards import DIGIT_NAMES, FSDD_SPEAKERS
from omnivec.data.datasets.fsdd import SpokenDigitDataset, load_fsdd
from omnivec.data.root import StrPath
from omnivec.types import Modality


def spoken_caption(digit: int, speaker: str, with_accent: bool = False) -> str:
    """ "the digit seven spoken by jackson" (+ ", a male speaker with a USA/neutral accent")."""
    text = f"the digit {DIGIT_NAMES[digit]} spoken by {speaker}"
    if with_accent and speaker in FSDD_SPEAKERS:
        meta = FSDD_SPEAKERS[speaker]
        text += f", a {meta['gender']} speaker with a {meta['accent']} accent"
    return text


def spoken_digit_captions(
    root: StrPath | None = None,
    *,
    sample_rate: int = 8000,
    limit: int | None = None,
    seed: int = 0,
    with_accent: bool = False,
    cache_dir: StrPath | None = None,
) -> TaskSplits:
    """FSDD audio -> caption text built from the file name and the speaker metadata; official FSDD split."""
    fsdd = load_fsdd(root, sample_rate=sample_rate, limit=limit, seed=seed, cache_dir=cache_dir)
    out = []
    for ds in (fsdd.train, fsdd.test):
        assert isinstance(ds, SpokenDigitDataset)
        caps = [spoken_caption(int(dg), sp, with_accent) for dg, sp in zip(ds.targets, ds.speakers)]
        out.append(SampleDataset(Modality.AUDIO, ds.samples, caps, (), "fsdd-captions"))
    return TaskSplits(
        out[0],
        out[1],
        Modality.AUDIO,
        "captioning",
        [],
        "FSDD recordings with spoken-digit captions",
        "derived",
    )
