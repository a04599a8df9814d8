"""Tiny run folders for the serve/search tests: an OmniVec run with a generated cross-modal retrieval task
(a tone paired with a shape image of the same class index) and a UnIVAL run pretrained on a generated TSV, plus
folders of input files with class subfolders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from data_helpers import unival_pretraining_tsv

TONE_SHAPES = "tone-shapes"


def register_tone_shapes() -> None:
    """A generated retrieval task: audio ``tones`` class c <-> an image of ``shapes`` class c (c < 4)."""
    from omnivec.data.base import TASKS, SampleDataset, TaskEntry, TaskSplits, register_task
    from omnivec.data.real_tasks import audio_rate
    from omnivec.data.synthetic import make_splits

    if TONE_SHAPES in TASKS:
        return

    def build(cfg):  # type: ignore[no-untyped-def]
        sr = audio_rate(cfg)
        tones = make_splits("tones", cfg.num_train, cfg.num_test, cfg.train.seed, sample_rate=sr)
        shapes = make_splits("shapes", cfg.num_train, cfg.num_test, cfg.train.seed)
        splits = []
        for a, b in ((tones.train, shapes.train), (tones.test, shapes.test)):
            by_class: dict[int, list[int]] = {}
            for j in range(len(b)):
                by_class.setdefault(int(b[j][1]), []).append(j)
            samples, pairs = [], []
            for i in range(len(a)):
                s, c = a[i]
                if int(c) in by_class:
                    pool = by_class[int(c)]
                    samples.append(s)
                    pairs.append((b[pool[i % len(pool)]][0], int(c)))
            splits.append(SampleDataset("audio", samples, pairs, shapes.class_names, TONE_SHAPES))
        return TaskSplits(splits[0], splits[1], "audio", "retrieval", shapes.class_names, "tone <-> shape")

    register_task(TaskEntry(TONE_SHAPES, "retrieval", "audio", build, pair_modality="image"))


def omnivec_run(out: Path, steps: int = 4, num_train: int = 64) -> Path:
    """A tiny OmniVec run: shapes (image classification), topics (text) and tone-shapes (audio <-> image)."""
    from omnivec.api.train import train
    from omnivec.config import preset

    register_tone_shapes()
    cfg = preset("tiny")
    cfg.tasks = ["shapes", "topics", TONE_SHAPES]
    cfg.num_train, cfg.num_test = num_train, 32
    cfg.train.max_steps, cfg.train.batch_size = steps, 16
    train(cfg, out, progress=False)
    return out


def unival_run(out: Path, tmp: Path, steps: int = 2) -> Path:
    """A tiny UnIVAL run pretrained on generated caption, vqa and grounding rows."""
    from omnivec.families.unival.config import unival_preset
    from omnivec.families.unival.train import pretrain

    cfg = unival_preset("tiny", num_bins=16)
    cfg.tsv, cfg.image_size = {"pretrain": [str(unival_pretraining_tsv(tmp / "pretrain.tsv", 6))]}, 16
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.warmup_steps = steps, 2, 1
    pretrain(cfg, out, progress=False)
    return out


def write_shape_images(folder: Path, per_class: int = 3, seed: int = 5) -> Path:
    """``folder/<shape>/<i>.png`` test images of the generated shapes."""
    from omnivec.data.synthetic import make_splits

    ds = make_splits("shapes", 4 * per_class, 4, seed).train
    names = make_splits("shapes", 4, 4, seed).class_names
    for i in range(len(ds)):
        img, c = ds[i]
        d = folder / names[int(c)]
        d.mkdir(parents=True, exist_ok=True)
        arr = (np.asarray(img).transpose(1, 2, 0) * 255).clip(0, 255).astype(np.uint8)
        Image.fromarray(arr).save(d / f"{i}.png")
    return folder


def write_tone_wavs(folder: Path, per_class: int = 3, seed: int = 5, sr: int = 8000) -> Path:
    """``folder/<shape name of the paired class>/<i>.wav``: tones labelled with the shape they are paired with."""
    from omnivec.data.synthetic import make_splits

    ds = make_splits("tones", 5 * per_class, 5, seed, sample_rate=sr).train
    names = make_splits("shapes", 4, 4, seed).class_names
    for i in range(len(ds)):
        wave, c = ds[i]
        if int(c) >= len(names):
            continue
        d = folder / names[int(c)]
        d.mkdir(parents=True, exist_ok=True)
        sf.write(d / f"{i}.wav", np.asarray(wave, dtype=np.float32), sr, subtype="PCM_16")
    return folder


def cached_runs(factory: object) -> dict[str, Path]:
    """The tiny runs, input folders and index, built once per test session (several test files share them)."""
    base = Path(factory.getbasetemp()) / "serve-runs"  # type: ignore[attr-defined]
    done = base / "done"
    paths = {
        "omnivec": base / "omnivec",
        "unival": base / "unival",
        "images": base / "images",
        "wavs": base / "wavs",
        "index": base / "index.npz",
    }
    if not done.exists():
        from omnivec.api.search import build_index

        base.mkdir(parents=True, exist_ok=True)
        omnivec_run(paths["omnivec"])
        unival_run(paths["unival"], base)
        write_shape_images(paths["images"])
        write_tone_wavs(paths["wavs"])
        build_index(paths["omnivec"], "image", [paths["images"]], paths["index"], device="cpu")
        done.touch()
    register_tone_shapes()
    return paths
