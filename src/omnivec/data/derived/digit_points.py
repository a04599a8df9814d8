"""Digit point clouds: real digit strokes extruded into a 3D slab, sampled to a point cloud and rotated about
a random axis (no real 3D dataset is small enough to stage; see docs/data.md). Label = the digit."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from omnivec.data.base import SampleDataset, TaskSplits
from omnivec.data.datasets.cards import info
from omnivec.data.derived.common import MASK_INK, Picker, derived_rng, digit_source
from omnivec.data.readers.points import normalize_points
from omnivec.data.root import StrPath
from omnivec.types import Modality


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3D rotation (QR of a Gaussian matrix with the sign fix of Mezzadri 2007)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _bounded_rotation(rng: np.random.Generator, max_angle: float) -> np.ndarray:
    """A rotation about a uniformly random axis by an angle uniform in [-max_angle, max_angle] degrees
    (Rodrigues); max_angle >= 180 gives a uniformly random rotation."""
    if max_angle >= 180:
        return _rotation(rng)
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    a = np.deg2rad(rng.uniform(-max_angle, max_angle))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)


def digit_point_clouds(
    n: int,
    seed: int = 0,
    *,
    source: str = "mnist",
    split: str = "train",
    root: StrPath | None = None,
    num_points: int = 256,
    depth: float = 0.3,
    jitter: float = 0.01,
    rotate: bool = True,
    arrays: tuple[np.ndarray, np.ndarray] | None = None,
    max_angle: float = 180.0,
) -> tuple[list[Tensor], list[int]]:
    """Real digit strokes lifted into 3D: ink pixels (> 128) become a slab extruded to ``depth`` (in units of
    half the image width), sampled to ``num_points`` points (pixel chosen by ink weight, uniform inside the
    pixel and the depth), rotated about a random axis by at most ``max_angle`` degrees (180 = uniformly random,
    which makes some digits ambiguous: a 6 turned 180 degrees in-plane is a 9), jittered and normalised to the
    unit sphere. Label = digit."""
    images, labels, _ = digit_source(source, split, root, arrays)
    rng = derived_rng(seed, split, f"points-{source}-{num_points}")
    pick = Picker(len(images), rng)
    clouds, targets = [], []
    d = images.shape[1]
    for _ in range(n):
        i = pick()
        img = images[i].astype(np.float64)
        rows, cols = np.nonzero(img > MASK_INK)
        if len(rows) == 0:
            rows, cols = np.nonzero(img > 0)
        weight = img[rows, cols] / img[rows, cols].sum()
        k = rng.choice(len(rows), num_points, p=weight)
        x = (cols[k] + rng.random(num_points)) / (d / 2) - 1
        y = 1 - (rows[k] + rng.random(num_points)) / (d / 2)  # image rows grow downwards
        z = (rng.random(num_points) - 0.5) * depth
        pts = np.stack([x, y, z], axis=1)
        if rotate:
            pts = pts @ _bounded_rotation(rng, max_angle).T
        pts = pts + rng.normal(0, jitter, pts.shape)
        clouds.append(normalize_points(pts))
        targets.append(int(labels[i]))
    return clouds, targets


def digit_points_task(
    n_train: int = 2000,
    n_test: int = 500,
    seed: int = 0,
    *,
    source: str = "mnist",
    root: StrPath | None = None,
    num_points: int = 256,
    max_angle: float = 45.0,
) -> TaskSplits:
    """Point-cloud classification of extruded real digits (no real 3D dataset is staged; see docs/data.md).
    Rotations are bounded (45 degrees about a random axis by default) so that no two digits become the same."""
    kw = dict(source=source, root=root, num_points=num_points, max_angle=max_angle)
    tr = digit_point_clouds(n_train, seed, split="train", **kw)  # type: ignore[arg-type]
    te = digit_point_clouds(n_test, seed, split="test", **kw)  # type: ignore[arg-type]
    names = list(info(source).class_names)
    tag = f"points-{source}"
    return TaskSplits(
        SampleDataset(Modality.POINTS, tr[0], tr[1], names, tag),
        SampleDataset(Modality.POINTS, te[0], te[1], names, tag),
        Modality.POINTS,
        "classification",
        names,
        f"{source} digits extruded into {num_points}-point clouds",
        "derived",
    )
