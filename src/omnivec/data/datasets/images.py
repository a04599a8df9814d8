"""MNIST and Fashion-MNIST: IDX files, official 60,000 / 10,000 splits, images float32 (1, 28, 28) in [0, 1]
converted lazily from the shared uint8 arrays (which the derived tasks read directly, :func:`digit_arrays`)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from omnivec.data.base import SampleDataset, TaskSplits
from omnivec.data.datasets.cards import info
from omnivec.data.datasets.loading import LOADERS, LazySeq, subsample
from omnivec.data.datasets.verify import dataset_dir, verify_dataset
from omnivec.data.readers.idx import read_idx
from omnivec.data.root import StrPath
from omnivec.errors import DataError, OmnivecError
from omnivec.types import Modality


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


def load_image_split(
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
    train = load_image_split(name, "train", root, limit, seed, verify)
    test = load_image_split(name, "test", root, limit, seed, verify)
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


LOADERS.register("mnist")(load_mnist)
LOADERS.register("fashion-mnist")(load_fashion_mnist)
