"""Moving digits: Moving-MNIST clips (Srivastava et al., "Unsupervised Learning of Video Representations using
LSTMs", ICML 2015) of real digits bouncing inside a square, with a direction label and a caption per clip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from omnivec.data.base import SampleDataset, TaskSplits
from omnivec.data.datasets.cards import info
from omnivec.data.derived.common import Picker, answer_word, derived_rng, digit_source, noun, phrase
from omnivec.data.root import StrPath
from omnivec.errors import OmnivecError
from omnivec.types import Modality

DIRECTIONS = (
    "right",
    "down and to the right",
    "down",
    "down and to the left",
    "left",
    "up and to the left",
    "up",
    "up and to the right",
)
"""Motion classes: the initial velocity's angle in 45-degree steps, image y pointing down."""


@dataclass
class MovingClip:
    video: Tensor
    """(1, T, H, W) float32 in [0, 1]."""
    digits: list[int]
    directions: list[int]
    """Index into DIRECTIONS per digit (the initial direction)."""
    bounced: list[bool]
    positions: np.ndarray
    """(num_digits, T, 2) integer top-left (x, y) of each digit per frame."""
    caption: str


def moving_digits(
    n: int,
    seed: int = 0,
    *,
    source: str = "mnist",
    split: str = "train",
    root: StrPath | None = None,
    num_frames: int = 10,
    size: int = 64,
    num_digits: int = 1,
    speed: tuple[float, float] = (2.0, 3.5),
    arrays: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[MovingClip]:
    """Moving-MNIST clips: ``num_digits`` 28x28 real digits move in a straight line inside a ``size`` square,
    bouncing off the edges, frames combined by pixel-wise max. Start points are chosen so that a digit does
    not bounce within the clip whenever that is possible, so its direction label holds for the whole clip."""
    images, labels, class_names = digit_source(source, split, root, arrays)
    d = images.shape[1]
    lim = size - d
    if lim < 0 or num_digits < 1 or num_frames < 1:
        raise OmnivecError(f"need size >= {d}, num_digits >= 1 and num_frames >= 1")
    rng = derived_rng(seed, split, f"moving-{source}-{size}-{num_frames}-{num_digits}")
    pick = Picker(len(images), rng)
    clips = []
    for _ in range(n):
        frames = np.zeros((num_frames, size, size), np.uint8)
        digits, dirs, bounced, pos = [], [], [], np.zeros((num_digits, num_frames, 2), np.int64)
        for k in range(num_digits):
            i = pick()
            direction = int(rng.integers(len(DIRECTIONS)))
            angle = direction * np.pi / 4
            v = float(rng.uniform(*speed)) * np.array([np.cos(angle), np.sin(angle)])  # (vx, vy), y down
            start = np.array([_start(rng, lim, v[j] * (num_frames - 1)) for j in range(2)])
            p, hit = start.astype(np.float64), False
            for t in range(num_frames):
                xy = np.round(p).astype(np.int64)
                pos[k, t] = xy
                patch = frames[t, xy[1] : xy[1] + d, xy[0] : xy[0] + d]
                np.maximum(patch, images[i], out=patch)
                p = p + v
                for j in range(2):  # reflect off the walls
                    if p[j] < 0 or p[j] > lim:
                        p[j] = -p[j] if p[j] < 0 else 2 * lim - p[j]
                        v[j] = -v[j]
                        hit = hit or t < num_frames - 1
            digits.append(int(labels[i]))
            dirs.append(direction)
            bounced.append(hit)
        video = torch.from_numpy(frames).float().div_(255.0).unsqueeze(0)  # (1, T, H, W)
        clips.append(
            MovingClip(video, digits, dirs, bounced, pos, _motion_caption(digits, dirs, bounced, class_names, source))
        )
    return clips


def _start(rng: np.random.Generator, lim: int, travel: float) -> float:
    lo, hi = max(0.0, -travel), min(float(lim), lim - travel)
    return float(rng.uniform(lo, hi)) if lo <= hi else float(rng.uniform(0, lim))


def _motion_caption(
    digits: list[int], dirs: list[int], bounced: list[bool], class_names: list[str], source: str
) -> str:
    one, _ = noun(source)
    parts = []
    for c, dr, b in zip(digits, dirs, bounced):
        subject = (
            f"the {one} {answer_word(class_names[c], source)}" if len(digits) == 1 else phrase(class_names[c], source)
        )
        parts.append(f"{subject} moves {DIRECTIONS[dr]}" + (" and bounces off the edge" if b else ""))
    return " and ".join(parts)


MOVING_KINDS = ("digit", "direction", "captioning")


def moving_digits_task(
    kind: str,
    n_train: int = 1000,
    n_test: int = 200,
    seed: int = 0,
    *,
    source: str = "mnist",
    root: StrPath | None = None,
    num_frames: int = 10,
    size: int = 64,
    num_digits: int = 1,
) -> TaskSplits:
    """Video tasks: "digit" (which digit; one-digit clips), "direction" (8 classes; one-digit clips) or
    "captioning" (video -> caption)."""
    if kind in ("digit", "direction") and num_digits != 1:
        raise OmnivecError(f"moving-digits {kind} classification needs num_digits=1")
    kw = dict(source=source, root=root, num_frames=num_frames, size=size, num_digits=num_digits)
    train = moving_digits(n_train, seed, split="train", **kw)  # type: ignore[arg-type]
    test = moving_digits(n_test, seed, split="test", **kw)  # type: ignore[arg-type]
    desc = f"{kind} on {num_frames}-frame {size}x{size} moving-{source} clips with {num_digits} item(s)"
    tag = f"moving-{source}-{kind}"
    tr: list[Any]
    te: list[Any]
    if kind == "digit":
        names = list(info(source).class_names)
        tr, te = ([c.digits[0] for c in clips] for clips in (train, test))
    elif kind == "direction":
        names = list(DIRECTIONS)
        tr, te = ([c.directions[0] for c in clips] for clips in (train, test))
    elif kind == "captioning":
        names = []
        tr, te = ([c.caption for c in clips] for clips in (train, test))
    else:
        raise OmnivecError(f"unknown moving-digits task {kind!r}; expected one of {MOVING_KINDS}")
    return TaskSplits(
        SampleDataset(Modality.VIDEO, [c.video for c in train], tr, names, tag),
        SampleDataset(Modality.VIDEO, [c.video for c in test], te, names, tag),
        Modality.VIDEO,
        "captioning" if kind == "captioning" else "classification",
        names,
        desc,
        "derived",
    )
