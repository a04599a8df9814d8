"""Bring-your-own data as a catalogue task: a user's folder or manifest (read by :mod:`.folder`) becomes a
classification :class:`~omnivec.data.base.TaskEntry` built per run.

Bring-your-own tasks live in ``RunConfig.byo`` (task name -> spec, :func:`byo_spec`); :func:`byo_entry` turns a
spec into an entry, so ``omnivec evaluate RUN`` rebuilds what ``omnivec train --train PATH`` trained on.

A spec with ``"labels": "optional"`` is data for masked pretraining (``omnivec pretrain --train PATH``): a flat
folder or a label-less manifest becomes one unlabelled training split (``class_names == []``, no test split);
a folder of class subfolders keeps its classes and the seeded holdout ``train`` would make, so a later probe
scores on files pretraining never saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from omnivec.config import RunConfig
from omnivec.data.base import TaskEntry, TaskSplits
from omnivec.data.byo.folder import FolderDataset, load_byo, require_readable
from omnivec.data.readers import ReadOptions
from omnivec.data.real_tasks import POINTS, VIDEO_FRAMES, VIDEO_SIZE, audio_rate, read_option
from omnivec.errors import OmnivecError
from omnivec.types import Modality

BYO_IMAGE_SIZE = 32
"""Bring-your-own images are resized to this square (a multiple of the image patch size)."""


def byo_spec(train: str, val: str = "", modality: str = "", labels: bool = True) -> dict[str, str]:
    """The RunConfig.byo entry for a user path (absolute paths, so the run folder works from anywhere).
    ``labels=False``: labels are optional (pretraining data; ``"labels": "optional"`` in the spec)."""
    spec = {"train": str(Path(train).expanduser().resolve()), "val": "", "modality": modality}
    if val:
        spec["val"] = str(Path(val).expanduser().resolve())
    if not labels:
        spec["labels"] = "optional"
    return spec


def labels_required(spec: dict[str, str]) -> bool:
    return spec.get("labels", "required") != "optional"


SPLIT_NAMES = {"train", "training", "val", "valid", "validation", "dev", "test", "testing", "eval", "data"}
"""Folder/manifest names that say which split, not which dataset: ``mydata/train`` is named ``mydata``."""


def byo_name(path: str) -> str:
    """Task name for a user path: the folder's (or manifest's) name, lower-case, spaces and dots as dashes; for
    a split name (``train``, ``val``, ...) the parent folder's name."""
    p = Path(path).expanduser().resolve()
    stem = p.stem if p.is_file() else p.name
    if stem.strip().lower() in SPLIT_NAMES and p.parent.name:
        stem = p.parent.name
    return stem.strip().lower().replace(" ", "-").replace(".", "-") or "byo"


def byo_options(cfg: RunConfig) -> ReadOptions:
    return ReadOptions(
        image_size=BYO_IMAGE_SIZE,
        sample_rate=audio_rate(cfg),
        num_frames=VIDEO_FRAMES,
        video_size=VIDEO_SIZE,
        num_points=int(read_option(cfg, Modality.POINTS, "num_points", POINTS)),
        seed=cfg.train.seed,
    )


def _subset(ds: FolderDataset, keep: list[int]) -> FolderDataset:
    items = [ds.items[i] for i in keep]
    return FolderDataset(items, ds.modality, ds.class_names, ds.opts, ds.strict, ds.name, ds.inline_text, ds.root)


def holdout(ds: FolderDataset, seed: int, fraction: float = 0.1) -> tuple[FolderDataset, FolderDataset]:
    """A deterministic stratified split: per class, ``fraction`` of the files (at least one when the class has
    two or more) go to the held-out part, chosen by ``seed``."""
    rng = np.random.default_rng([seed, 10])
    train_idx: list[int] = []
    val_idx: list[int] = []
    for k in range(len(ds.class_names)):
        idx = [i for i, (_, t) in enumerate(ds.items) if t == k]
        n_val = max(1, round(fraction * len(idx))) if len(idx) >= 2 else 0
        perm = [idx[j] for j in rng.permutation(len(idx))]
        val_idx += perm[:n_val]
        train_idx += perm[n_val:]
    return _subset(ds, sorted(train_idx)), _subset(ds, sorted(val_idx))


def load_user(
    path: str, cfg: RunConfig, modality: str = "", strict: bool | None = None, require_labels: bool = True
) -> FolderDataset:
    """A user folder/manifest read with this run's options (``require_labels``: see :func:`.folder.from_folder`)."""
    kw: dict[str, Any] = {"opts": byo_options(cfg), "strict": cfg.strict if strict is None else strict}
    kw["require_labels"] = require_labels
    if modality:
        kw["modality"] = modality
    return load_byo(path, **kw)


def relabel(ds: FolderDataset, class_names: list[str]) -> FolderDataset:
    """Map a folder's classes onto a trained task's class names (evaluation on a new folder)."""
    unknown = sorted(set(ds.class_names) - set(class_names))
    if unknown:
        raise OmnivecError(f"{ds.name}: classes {unknown} are not among the run's classes {class_names}")
    index = {c: i for i, c in enumerate(class_names)}
    items = [(x, index[ds.class_names[t]]) for x, t in ds.items]
    return FolderDataset(items, ds.modality, class_names, ds.opts, ds.strict, ds.name, ds.inline_text, ds.root)


def byo_entry(name: str, spec: dict[str, str]) -> TaskEntry:
    """A classification TaskEntry for a bring-your-own spec (see :func:`byo_spec`)."""

    def build(cfg: RunConfig) -> TaskSplits:
        if not labels_required(spec):
            return _pretraining_splits(spec, cfg)
        full = load_user(spec["train"], cfg, spec.get("modality", ""))
        if spec.get("val"):
            train, val = full, relabel(load_user(spec["val"], cfg, str(full.modality)), full.class_names)
        else:
            train, val = holdout(full, cfg.train.seed)
        if len(val) == 0:
            raise OmnivecError(f"{spec['train']}: too few files for a 10% holdout; pass --val PATH")
        desc = f"bring-your-own {full.modality.value} classification from {spec['train']}"
        return TaskSplits(train, val, full.modality, "classification", full.class_names, desc, "byo")

    modality = spec.get("modality") or _guess_modality(spec["train"], labels_required(spec))
    return TaskEntry(
        name, "classification", modality, build, source="byo", description=f"bring-your-own: {spec['train']}"
    )


def _pretraining_splits(spec: dict[str, str], cfg: RunConfig) -> TaskSplits:
    """Pretraining data: an unlabelled set is all training split; a labelled one keeps the seeded holdout of
    :func:`byo_entry` as its test split (all training when too small for one). A folder of which no file reads
    is refused here, before the run folder is written."""
    full = load_user(spec["train"], cfg, spec.get("modality", ""), require_labels=False)
    require_readable(full, spec["train"])
    train, test = holdout(full, cfg.train.seed) if full.labelled else (full, _subset(full, []))
    if len(test) == 0:
        train = full
    what = "classes " + ", ".join(full.class_names) if full.labelled else "unlabelled"
    desc = f"bring-your-own {full.modality.value} pretraining data ({what}) from {spec['train']}"
    return TaskSplits(train, test, full.modality, "classification", full.class_names, desc, "byo")


def _guess_modality(path: str, require_labels: bool = True) -> str:
    return str(load_byo(path, require_labels=require_labels).modality)
