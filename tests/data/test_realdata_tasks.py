"""Real-data catalogue tasks: each builds from the staged data with the right modality, classes, sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_helpers import real_root
from omnivec.config import preset
from omnivec.data.real_tasks import REAL_SUITE, real_suite
from omnivec.data.task_catalog import get_task, task_names
from omnivec.errors import OmnivecError

EXPECTED = {
    # name: (kind, modality, classes, sample shape or None)
    "mnist": ("classification", "image", 10, (1, 28, 28)),
    "fashion-mnist": ("classification", "image", 10, (1, 28, 28)),
    "fsdd": ("classification", "audio", 10, None),
    "banking77": ("classification", "text", 77, None),
    "digit-scenes": ("segmentation", "image", 11, (1, 32, 32)),
    "moving-digits": ("classification", "video", 10, (1, 8, 32, 32)),
    "digit-points": ("classification", "points", 10, (256, 3)),
    "fsdd-mnist": ("retrieval", "audio", 10, None),
}


def _cfg(root: object, limit: int = 40) -> object:
    cfg = preset("tiny")
    cfg.data_root = str(root)
    cfg.train_limit, cfg.test_limit = limit, limit // 2
    return cfg


def test_every_real_task_is_registered() -> None:
    names = task_names()
    for n, (kind, modality, _, _) in EXPECTED.items():
        assert n in names
        e = get_task(n)
        assert (e.kind, e.modality) == (kind, modality) and e.description
    assert get_task("digit-scenes").group == "dense" and get_task("fsdd-mnist").pair_modality == "image"


def test_missing_data_names_the_dataset_and_the_fix(tmp_path: object) -> None:
    with pytest.raises(OmnivecError, match=r"'fsdd'.*omnivec data download fsdd"):
        get_task("fsdd").build(_cfg(tmp_path))  # type: ignore[arg-type]
    assert real_suite(str(tmp_path)) is None


@pytest.mark.realdata
@pytest.mark.parametrize("name", list(EXPECTED))
def test_real_task_builds(name: str) -> None:
    kind, modality, classes, shape = EXPECTED[name]
    splits = get_task(name).build(_cfg(real_root()))  # type: ignore[arg-type]
    assert (splits.kind, str(splits.modality), len(splits.class_names)) == (kind, modality, classes)
    assert (len(splits.train), len(splits.test)) == (40, 20)  # type: ignore[arg-type]  # limits respected
    x, y = splits.train[0]
    if shape is not None:
        assert tuple(x.shape) == shape and x.dtype == torch.float32
    if modality == "audio":
        assert x.ndim == 1 and float(x.abs().max()) <= 1.0
    if modality == "text":
        assert isinstance(x, str) and x
    if kind == "segmentation":
        assert y.shape == x.shape[1:] and int(y.max()) <= 10
    if kind == "classification":
        assert 0 <= y < classes


@pytest.mark.realdata
def test_fsdd_mnist_pairs_share_the_digit() -> None:
    splits = get_task("fsdd-mnist").build(_cfg(real_root(), 60))  # type: ignore[arg-type]
    fsdd = get_task("fsdd").build(_cfg(real_root(), 60))  # type: ignore[arg-type]
    mnist_test = get_task("mnist").build(_cfg(real_root(), 0))  # type: ignore[arg-type]
    for ds, ref in ((splits.train, fsdd.train), (splits.test, fsdd.test)):
        for i in range(len(ds)):  # type: ignore[arg-type]
            audio, (image, label) = ds[i]
            assert label == ref[i][1]  # the spoken digit
            assert torch.equal(audio, ref[i][0]) and tuple(image.shape) == (1, 28, 28)
    # the paired test image really is an MNIST test image of that digit
    audio, (image, label) = splits.test[0]
    x = np.stack([mnist_test.test[i][0].numpy() for i in range(len(mnist_test.test))])  # type: ignore[arg-type]
    hits = np.flatnonzero(np.all(np.abs(x - image.numpy()) < 1e-6, axis=(1, 2, 3)))
    assert len(hits) >= 1 and all(mnist_test.test[int(h)][1] == label for h in hits)


@pytest.mark.realdata
def test_real_suite_and_sizes_fit_the_patch_sizes() -> None:
    suite = real_suite(str(real_root()))
    assert suite == REAL_SUITE and len(suite) == 6
    mods = {get_task(n).modality for n in suite}
    assert mods == {"image", "video", "audio", "text", "points"}
    assert {get_task(n).kind for n in suite} == {"classification", "segmentation"}
    cfg = _cfg(real_root(), 4)
    scene = get_task("digit-scenes").build(cfg).train[0][0]  # type: ignore[arg-type]
    clip = get_task("moving-digits").build(cfg).train[0][0]  # type: ignore[arg-type]
    assert scene.shape[-1] % 4 == 0 and clip.shape[-1] % 8 == 0 and clip.shape[1] % 2 == 0


@pytest.mark.realdata
def test_tasks_are_deterministic_in_the_seed() -> None:
    a = get_task("digit-points").build(_cfg(real_root(), 6))  # type: ignore[arg-type]
    b = get_task("digit-points").build(_cfg(real_root(), 6))  # type: ignore[arg-type]
    assert all(torch.equal(a.train[i][0], b.train[i][0]) for i in range(6))
