"""What the derived families share: one seeded random stream per (seed, split, task), drawing source digits
without repetition, the real source arrays, and the words their captions and questions are made of."""

from __future__ import annotations

import numpy as np

from omnivec.data.datasets.cards import info
from omnivec.data.datasets.images import digit_arrays
from omnivec.data.root import StrPath
from omnivec.errors import OmnivecError

MASK_INK = 128
"""Pixels above this are labelled with the digit's class in segmentation masks."""
SPLIT_STREAM = {"train": 0, "test": 1}


def derived_rng(seed: int, split: str, task: str) -> np.random.Generator:
    # one independent stream per (seed, split, task): changing one task never shifts another's samples
    return np.random.default_rng([seed, SPLIT_STREAM[split], sum(map(ord, task))])


class Picker:
    """Draws source indices without repetition until the source is used up, then starts a new permutation."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n, self.rng, self.perm, self.pos = n, rng, rng.permutation(n), 0

    def __call__(self) -> int:
        if self.pos == self.n:
            self.perm, self.pos = self.rng.permutation(self.n), 0
        self.pos += 1
        return int(self.perm[self.pos - 1])


def digit_source(
    source: str, split: str, root: StrPath | None, arrays: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if split not in SPLIT_STREAM:
        raise OmnivecError(f"split must be train or test, not {split!r}")
    if source not in ("mnist", "fashion-mnist"):
        raise OmnivecError(f"derived image tasks use mnist or fashion-mnist, not {source!r}")
    images, labels = arrays if arrays is not None else digit_arrays(source, split, root)
    return images, labels, list(info(source).class_names)


def noun(source: str) -> tuple[str, str]:
    return ("digit", "digits") if source == "mnist" else ("item", "items")


def phrase(name: str, source: str) -> str:
    word = name if source == "mnist" else name.lower()
    return f"{'an' if word[0] in 'aeiou8' else 'a'} {word}"


def answer_word(name: str, source: str) -> str:
    return name if source == "mnist" else name.lower()
