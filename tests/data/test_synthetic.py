"""The generated datasets: contract formats, balance, determinism, masks matching pixels, no easy shortcut."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
import torch

from omnivec.data.base import SampleDataset, TaskSplits
from omnivec.data.synthetic import GENERATORS, make_splits, topic_corpus
from omnivec.data.synthetic.vision import _shape_mask
from omnivec.types import Modality

N = 100  # enough for balance checks, small enough to keep the file to a few seconds


@pytest.fixture(scope="module")
def train_sets() -> dict[str, SampleDataset]:
    return {name: info.fn("train", N, 0) for name, info in GENERATORS.items()}


def _check_sample(modality: Modality, x: Any) -> None:
    if modality is Modality.TEXT:
        assert isinstance(x, str) and len(x.split()) >= 3
        return
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    if modality is Modality.IMAGE:
        assert x.shape == (3, 32, 32) and x.min() >= 0 and x.max() <= 1
    elif modality is Modality.VIDEO:
        assert x.shape == (3, 8, 32, 32) and x.min() >= 0 and x.max() <= 1
    elif modality is Modality.AUDIO:
        assert x.ndim == 1 and 0.4 * 8000 <= len(x) <= 8000 and x.abs().max() <= 1
    elif modality is Modality.POINTS:
        assert x.shape == (256, 3)
        assert x.mean(0).abs().max() < 1e-5
        assert x.norm(dim=1).max() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_formats_and_targets(name: str, train_sets: dict[str, SampleDataset]) -> None:
    info, ds = GENERATORS.get(name), train_sets[name]
    assert len(ds) == N and ds.modality is info.modality and ds.class_names == list(info.class_names)
    for i in range(len(ds)):
        x, y = ds[i]
        _check_sample(info.modality, x)
        if info.kind == "segmentation":
            assert y.shape == (32, 32) and y.dtype == torch.int64
            assert y.min() >= 0 and y.max() < info.num_classes and (y > 0).any()
        else:
            assert isinstance(y, int) and 0 <= y < info.num_classes


@pytest.mark.parametrize("name", [n for n, i in GENERATORS.items() if i.kind == "classification"])
def test_classes_balanced(name: str, train_sets: dict[str, SampleDataset]) -> None:
    counts = Counter(train_sets[name].targets)
    assert sorted(counts) == list(range(GENERATORS.get(name).num_classes))
    assert max(counts.values()) - min(counts.values()) <= 1


def test_scene_pixels_cover_every_shape_class(train_sets: dict[str, SampleDataset]) -> None:
    masks = torch.stack([y for _, y in train_sets["shape_scenes"]])
    frac = torch.bincount(masks.flatten(), minlength=5).float() / masks.numel()
    assert 0.7 < frac[0] < 0.95  # mostly background, but shapes are not specks
    assert frac[1:].min() > 0.5 * frac[1:].max()  # equal-area shapes: no class dominates the foreground


def _same(a: Any, b: Any) -> bool:
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else bool(a == b)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_deterministic_per_split_and_seed(name: str) -> None:
    fn = GENERATORS.get(name).fn
    a, b = fn("train", 12, 3), fn("train", 12, 3)
    assert all(_same(a[i][0], b[i][0]) and _same(a[i][1], b[i][1]) for i in range(12))
    for other in (fn("test", 12, 3), fn("train", 12, 4)):
        assert sum(_same(a[i][0], other[i][0]) for i in range(12)) == 0


def test_masks_match_drawn_pixels() -> None:
    """Masks hold only the classes drawn, and each masked region stands out from the background in colour."""
    from omnivec.data.synthetic.vision import _render_scenes

    rng = np.random.default_rng(0)
    classes = np.array([[0, 1, 2], [3, 3, 0], [2, 0, 1]])
    present = np.array([[True, True, True], [True, False, False], [True, True, False]])
    images, masks = _render_scenes(rng, classes, present, 32)
    for img, mask, cls, pres in zip(images, masks, classes, present, strict=True):
        img = img.astype(np.int16)
        assert set(np.unique(mask)) - {0} <= {c + 1 for c, p in zip(cls, pres, strict=True) if p}
        # Background and foreground pixels differ strongly in some channel (colours stand >= 0.3 apart).
        bg = img[:, mask == 0].mean(1)
        for k in np.unique(mask[mask > 0]):
            fg = img[:, mask == k].mean(1)
            assert np.abs(fg - bg).max() > 0.2 * 255


def test_shape_masks_have_equal_area() -> None:
    """Area is not a class cue: at radius 10 the four shapes cover pi * 100 pixels within 4%."""
    n = 4
    areas = _shape_mask(np.arange(n), np.full(n, 31.5), np.full(n, 31.5), np.full(n, 10.0), np.zeros(n), 64)
    assert np.allclose(areas.sum((1, 2)), np.pi * 100, rtol=0.04)


def test_nearest_class_mean_is_near_chance_on_shapes() -> None:
    """Random colour, position and size leave no pixel-mean shortcut: the class is in the outline."""
    fn = GENERATORS.get("shapes").fn
    train, test = fn("train", 400, 0), fn("test", 200, 0)
    x = torch.stack(list(train.samples)).flatten(1)
    xt = torch.stack(list(test.samples)).flatten(1)
    y, yt = torch.tensor(train.targets), torch.tensor(test.targets)
    means = torch.stack([x[y == k].mean(0) for k in range(4)])
    acc = (torch.cdist(xt, means).argmin(1) == yt).float().mean().item()
    assert acc < 0.45


def test_tones_length_and_loudness_carry_no_label() -> None:
    ds = GENERATORS.get("tones").fn("train", 250, 0)
    y = torch.tensor(ds.targets)
    lengths = torch.tensor([len(w) for w in ds.samples], dtype=torch.float32)
    rms = torch.stack([w.pow(2).mean().sqrt() for w in ds.samples])
    for feature in (lengths, rms):
        per_class = torch.stack([feature[y == k].mean() for k in range(5)])
        assert (per_class.max() - per_class.min()) < 0.5 * feature.std()


def test_topics_corpus_and_vocabulary() -> None:
    corpus = topic_corpus(seed=0, num_samples=50)
    assert len(corpus) == 50 and all(isinstance(s, str) for s in corpus)
    assert corpus == topic_corpus(seed=0, num_samples=50)
    test_texts = set(GENERATORS.get("topics").fn("test", 50, 0).samples)
    assert len(test_texts & set(corpus)) < 10  # a few short templated sentences may coincide, not the split


def test_make_splits() -> None:
    splits = make_splits("solids", num_train=10, num_test=5, seed=1, num_points=64)
    assert isinstance(splits, TaskSplits) and splits.source == "generated"
    assert len(splits.train) == 10 and len(splits.test) == 5 and splits.modality is Modality.POINTS
    assert splits.train[0][0].shape == (64, 3)
    with pytest.raises(KeyError, match="unknown generated dataset"):
        make_splits("nope")
