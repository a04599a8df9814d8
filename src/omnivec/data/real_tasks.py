"""The task catalogue's real-data and derived tasks (named tasks a run trains on; their data come from the
named datasets, :mod:`omnivec.data.datasets`, and the derived builders, :mod:`omnivec.data.derived`).

Importing this module registers them (the catalogue, :mod:`omnivec.data.task_catalog`, imports it lazily):

================  ==============  =======  ==========================================================
mnist             classification  image    MNIST digits, 28x28 gray, official split
fashion-mnist     classification  image    Fashion-MNIST, 28x28 gray, official split
fsdd              classification  audio    spoken digits, resampled to the model's audio sample rate
banking77         classification  text     77 banking intents
digit-scenes      segmentation    image    32x32 scenes of 1-2 MNIST digits, 11 classes (background + 0-9)
moving-digits     classification  video    8-frame 32x32 clips of one moving MNIST digit; label = the digit
digit-points      classification  points   MNIST strokes extruded into 256-point clouds; label = the digit
fsdd-mnist        retrieval       audio    a spoken digit paired with an MNIST image of the same digit
================  ==============  =======  ==========================================================

Every task respects ``run_cfg.data_root`` (falling back to ``$OMNIVEC_DATA``), ``train_limit`` and
``test_limit`` (0 = the task's default size) and ``train.seed``. A missing dataset is an
:class:`OmnivecError` naming the dataset and the ``omnivec data download NAME`` fix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnivec.config import RunConfig
from omnivec.data.base import SampleDataset, TaskEntry, TaskSplits, register_task
from omnivec.data.datasets.cards import info
from omnivec.data.datasets.fsdd import load_fsdd_split
from omnivec.data.datasets.images import digit_arrays, load_image_split
from omnivec.data.datasets.verify import fsdd_files, is_present, verify_dataset
from omnivec.data.root import StrPath, resolve_cache, resolve_root
from omnivec.errors import OmnivecError
from omnivec.nn.encoders import ENCODERS
from omnivec.nn.encoders.audio import AudioEncoderConfig
from omnivec.types import Modality

SCENE_CANVAS = 32
"""digit-scenes canvas: 32x32 keeps 64 image tokens at patch size 4 (the canvas must be a multiple of it)."""
VIDEO_SIZE = 32
"""moving-digits frame size: a multiple of the video patch size 8."""
VIDEO_FRAMES = 8
"""moving-digits frames: a multiple of the tubelet size 2."""
POINTS = 256
"""digit-points points per cloud."""

#: Datasets each task reads.
NEEDS: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist",),
    "fashion-mnist": ("fashion-mnist",),
    "fsdd": ("fsdd",),
    "banking77": ("banking77",),
    "digit-scenes": ("mnist",),
    "moving-digits": ("mnist",),
    "digit-points": ("mnist",),
    "fsdd-mnist": ("fsdd", "mnist"),
}

REAL_SUITE = ["mnist", "digit-scenes", "moving-digits", "fsdd", "banking77", "digit-points"]
"""The real-data suite the quickstart trains: six tasks over five modalities plus segmentation (:func:`real_suite`)."""


def _root(cfg: RunConfig) -> Path | None:
    return resolve_root(cfg.data_root or None)


def require_datasets(task: str, names: tuple[str, ...], root: StrPath | None) -> Path:
    """The data root, once every dataset in ``names`` is there; else one clear error with the fix."""
    resolved = resolve_root(root)
    for name in names:
        if resolved is None or not is_present(name, resolved):
            where = f"under {resolved}" if resolved is not None else "(no data root: set --data-root or OMNIVEC_DATA)"
            raise OmnivecError(
                f"task {task!r} needs dataset {name!r}, which is not present {where}; fetch it with "
                f"`omnivec data download {name} --data-root DIR` or point --data-root / OMNIVEC_DATA at the "
                f"folder holding {info(name).folder}/"
            )
    assert resolved is not None
    return resolved


def _limit(value: int) -> int | None:
    return value if value > 0 else None


def _size(value: int, default: int) -> int:
    return value if value > 0 else default


def read_option(cfg: RunConfig, modality: str, key: str, default: Any) -> Any:
    """Option ``key`` of how files are read for the run's ``modality`` encoder (its ``read_options``), or
    ``default`` when the run has no encoder of that modality."""
    spec = cfg.model.encoders.get(modality)
    return default if spec is None else ENCODERS.get(spec.name).read_options(spec)[key]


def audio_rate(cfg: RunConfig) -> int:
    """The sample rate audio is read at: the audio encoder's (without one, the spectrogram encoder's default)."""
    return int(read_option(cfg, Modality.AUDIO, "sample_rate", AudioEncoderConfig.sample_rate))


# ------------------------------------------------------------------------------------------ named datasets


def _image(name: str) -> Callable[[RunConfig], TaskSplits]:
    def build(cfg: RunConfig) -> TaskSplits:
        root = require_datasets(name, NEEDS[name], _root(cfg))
        seed = cfg.train.seed
        train = load_image_split(name, "train", root, _limit(cfg.train_limit), seed, True)
        test = load_image_split(name, "test", root, _limit(cfg.test_limit), seed, True)
        meta = info(name)
        return TaskSplits(
            train, test, Modality.IMAGE, "classification", list(meta.class_names), meta.description, "real"
        )

    return build


def _fsdd(cfg: RunConfig) -> TaskSplits:
    root = require_datasets("fsdd", NEEDS["fsdd"], _root(cfg))
    verify_dataset("fsdd", root)
    rows = fsdd_files(root)
    sr, seed, cache = audio_rate(cfg), cfg.train.seed, resolve_cache()
    train = load_fsdd_split(rows, "train", sr, _limit(cfg.train_limit), seed, cache)
    test = load_fsdd_split(rows, "test", sr, _limit(cfg.test_limit), seed, cache)
    meta = info("fsdd")
    return TaskSplits(train, test, Modality.AUDIO, "classification", list(meta.class_names), meta.description, "real")


def _banking77(cfg: RunConfig) -> TaskSplits:
    from omnivec.data.datasets.text import load_banking77

    root = require_datasets("banking77", NEEDS["banking77"], _root(cfg))
    seed = cfg.train.seed
    tr = load_banking77(root, limit=_limit(cfg.train_limit), seed=seed)
    te = tr if cfg.test_limit == cfg.train_limit else load_banking77(root, limit=_limit(cfg.test_limit), seed=seed)
    return TaskSplits(tr.train, te.test, Modality.TEXT, "classification", tr.class_names, tr.description, "real")


# ------------------------------------------------------------------------------------------ derived tasks


def _scenes(cfg: RunConfig) -> TaskSplits:
    from omnivec.data.derived.digit_scenes import scene_task

    root = require_datasets("digit-scenes", NEEDS["digit-scenes"], _root(cfg))
    return scene_task(
        "segmentation",
        _size(cfg.train_limit, 2000),
        _size(cfg.test_limit, 500),
        cfg.train.seed,
        root=root,
        canvas=SCENE_CANVAS,
        min_items=1,
        max_items=2,
    )


def _moving(cfg: RunConfig) -> TaskSplits:
    from omnivec.data.derived.moving_digits import moving_digits_task

    root = require_datasets("moving-digits", NEEDS["moving-digits"], _root(cfg))
    return moving_digits_task(
        "digit",
        _size(cfg.train_limit, 1000),
        _size(cfg.test_limit, 200),
        cfg.train.seed,
        root=root,
        num_frames=VIDEO_FRAMES,
        size=VIDEO_SIZE,
    )


def _points(cfg: RunConfig) -> TaskSplits:
    from omnivec.data.derived.digit_points import digit_points_task

    root = require_datasets("digit-points", NEEDS["digit-points"], _root(cfg))
    return digit_points_task(
        _size(cfg.train_limit, 2000), _size(cfg.test_limit, 500), cfg.train.seed, root=root, num_points=POINTS
    )


def _fsdd_mnist(cfg: RunConfig) -> TaskSplits:
    """Each FSDD recording paired with a seeded random MNIST image of the same digit from the same split;
    item = (audio, (image, digit)), so any image of the spoken digit counts as a match."""
    fsdd = _fsdd(cfg)
    root = require_datasets("fsdd-mnist", NEEDS["fsdd-mnist"], _root(cfg))
    out = []
    for split, ds in (("train", fsdd.train), ("test", fsdd.test)):
        assert isinstance(ds, SampleDataset)
        images, labels = digit_arrays("mnist", split, root)
        by_digit = [np.flatnonzero(labels == d) for d in range(10)]
        rng = np.random.default_rng([cfg.train.seed, 7, 0 if split == "train" else 1])
        digits = [int(t) for t in ds.targets]
        picks = [int(rng.choice(by_digit[d])) for d in digits]
        pairs = [(torch.from_numpy(images[i]).float().div(255.0).unsqueeze(0), d) for i, d in zip(picks, digits)]
        out.append(SampleDataset(Modality.AUDIO, ds.samples, pairs, list(fsdd.class_names), f"fsdd-mnist/{split}"))
    return TaskSplits(
        out[0],
        out[1],
        Modality.AUDIO,
        "retrieval",
        list(fsdd.class_names),
        "spoken digit (FSDD) <-> MNIST image of the same digit",
        "derived",
    )


for _entry in [
    TaskEntry(
        "mnist",
        "classification",
        "image",
        _image("mnist"),
        source="real",
        description="MNIST handwritten digits, 28x28 gray (60k/10k)",
    ),
    TaskEntry(
        "fashion-mnist",
        "classification",
        "image",
        _image("fashion-mnist"),
        source="real",
        description="Fashion-MNIST clothing, 28x28 gray (60k/10k)",
    ),
    TaskEntry(
        "fsdd",
        "classification",
        "audio",
        _fsdd,
        source="real",
        description="Free Spoken Digit Dataset, 6 speakers (2700/300)",
    ),
    TaskEntry(
        "banking77",
        "classification",
        "text",
        _banking77,
        source="real",
        description="Banking77 customer-query intents, 77 classes (10003/3080)",
    ),
    TaskEntry(
        "digit-scenes",
        "segmentation",
        "image",
        _scenes,
        group="dense",
        source="derived",
        description=f"{SCENE_CANVAS}x{SCENE_CANVAS} scenes of 1-2 MNIST digits, per-pixel digit class",
    ),
    TaskEntry(
        "moving-digits",
        "classification",
        "video",
        _moving,
        source="derived",
        description=f"{VIDEO_FRAMES}-frame {VIDEO_SIZE}x{VIDEO_SIZE} moving-MNIST clips, label = digit",
    ),
    TaskEntry(
        "digit-points",
        "classification",
        "points",
        _points,
        source="derived",
        description=f"MNIST strokes extruded to {POINTS}-point 3D clouds, label = digit",
    ),
    TaskEntry(
        "fsdd-mnist",
        "retrieval",
        "audio",
        _fsdd_mnist,
        source="derived",
        pair_modality="image",
        description="spoken digit (FSDD) <-> MNIST image of the same digit",
    ),
]:
    register_task(_entry)


def real_suite(data_root: str) -> list[str] | None:
    """Six tasks over five modalities on real data (image classification, image segmentation, video, audio,
    text, points) when ``data_root`` (or $OMNIVEC_DATA) holds mnist, fsdd and banking77; else None."""
    root = resolve_root(data_root or None)
    if root is None or not all(is_present(d, root) for d in ("mnist", "fsdd", "banking77")):
        return None
    return list(REAL_SUITE)


def present_tasks(data_root: str | None = None) -> dict[str, bool]:
    """Every real-data task -> whether all the datasets it reads are present."""
    root = resolve_root(data_root or None)
    return {t: root is not None and all(is_present(d, root) for d in ds) for t, ds in NEEDS.items()}


__all__ = ["NEEDS", "REAL_SUITE", "present_tasks", "real_suite", "require_datasets"]
