"""Derived multimodal tasks built deterministically from real MNIST / Fashion-MNIST / FSDD data.

There is no open image-caption, VQA, grounding, video or 3D dataset small enough to stage here (see
``shared/data/DATASETS.md``), so these tasks are *synthetic compositions of real data*: real digit images
placed on a canvas (segmentation, boxes, captions, questions), moved over frames (video, after the Moving-
MNIST procedure of Srivastava et al., "Unsupervised Learning of Video Representations using LSTMs", ICML
2015), lifted into 3D (point clouds), or described in words (FSDD captions). Every builder takes a seed and is
byte-identical for the same seed and source; train tasks draw from the source's train split and test tasks
from its test split, so no test digit is ever seen in training. Dataset cards: ``docs/data.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from omnivec.data.base import SampleDataset, TaskSplits
from omnivec.data.catalogue import DATASETS, DIGIT_NAMES, FSDD_SPEAKERS
from omnivec.data.datasets import SpokenDigitDataset, digit_arrays, load_fsdd
from omnivec.data.pointcloud import normalize_points
from omnivec.data.root import StrPath
from omnivec.errors import OmnivecError
from omnivec.types import Modality

INK = 32
"""Pixels above this (of 255) count as ink when cropping a digit to its tight box."""
MASK_INK = 128
"""Pixels above this are labelled with the digit's class in segmentation masks."""
SPLIT_STREAM = {"train": 0, "test": 1}


def _rng(seed: int, split: str, task: str) -> np.random.Generator:
    # one independent stream per (seed, split, task): changing one task never shifts another's samples
    return np.random.default_rng([seed, SPLIT_STREAM[split], sum(map(ord, task))])


class _Picker:
    """Draws source indices without repetition until the source is used up, then starts a new permutation."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n, self.rng, self.perm, self.pos = n, rng, rng.permutation(n), 0

    def __call__(self) -> int:
        if self.pos == self.n:
            self.perm, self.pos = self.rng.permutation(self.n), 0
        self.pos += 1
        return int(self.perm[self.pos - 1])


def _source(
    source: str, split: str, root: StrPath | None, arrays: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if split not in SPLIT_STREAM:
        raise OmnivecError(f"split must be train or test, not {split!r}")
    if source not in ("mnist", "fashion-mnist"):
        raise OmnivecError(f"derived image tasks use mnist or fashion-mnist, not {source!r}")
    images, labels = arrays if arrays is not None else digit_arrays(source, split, root)
    return images, labels, list(DATASETS[source].class_names)


def _noun(source: str) -> tuple[str, str]:
    return ("digit", "digits") if source == "mnist" else ("item", "items")


def _phrase(name: str, source: str) -> str:
    word = name if source == "mnist" else name.lower()
    return f"{'an' if word[0] in 'aeiou8' else 'a'} {word}"


# ------------------------------------------------------------------------------------------ digit scenes


@dataclass(frozen=True)
class SceneObject:
    label: int
    """Class index in the source (digit 0-9, or Fashion-MNIST class)."""
    name: str
    box: tuple[int, int, int, int]
    """x0, y0, x1, y1 in pixels, x1/y1 exclusive."""
    box_norm: tuple[float, float, float, float]
    """The box divided by the canvas width/height, in [0, 1]."""
    position: str
    """Where on the canvas: "top left", "top", ..., "centre", ..., "bottom right" (3x3 grid of the centre)."""


@dataclass
class Scene:
    """One canvas and every annotation the scene tasks need."""

    image: Tensor
    """(1, H, W) float32 in [0, 1]."""
    mask: Tensor
    """(H, W) int64: 0 background, 1 + class where the object's ink is."""
    objects: list[SceneObject]
    caption: str
    qa: list[tuple[str, str]]
    source_indices: list[int]


_ROWS, _COLS = ("top", "", "bottom"), ("left", "", "right")


def position_word(box: tuple[int, int, int, int], width: int, height: int) -> str:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    row, col = _ROWS[min(int(3 * cy / height), 2)], _COLS[min(int(3 * cx / width), 2)]
    return " ".join(w for w in (row, col) if w) or "centre"


def _crop(img: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero((img > INK).any(1)), np.flatnonzero((img > INK).any(0))
    if len(rows) == 0:
        return img
    return img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int = 1) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _describe(
    objs: list[SceneObject], class_names: list[str], source: str, rng: np.random.Generator
) -> tuple[str, list[tuple[str, str]]]:
    order = sorted(
        objs,
        key=lambda o: (_ROWS.index(o.position.split()[0]) if o.position.split()[0] in _ROWS else 1, o.box[0]),
    )
    parts = [f"{_phrase(o.name, source)} at the {o.position}" for o in order]
    caption = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    one, many = _noun(source)
    present = sorted({o.label for o in objs})
    absent = [c for c in range(len(class_names)) if c not in present]
    yes = class_names[present[int(rng.integers(len(present)))]]
    qa = [(f"how many {many} are there?", str(len(objs))), (f"is there {_phrase(yes, source)}?", "yes")]
    if absent:
        no = class_names[absent[int(rng.integers(len(absent)))]]
        qa.append((f"is there {_phrase(no, source)}?", "no"))
    by_x = sorted(objs, key=lambda o: o.box[0] + o.box[2])
    qa.append((f"what {one} is at the left?", _answer(by_x[0].name, source)))
    qa.append((f"what {one} is at the right?", _answer(by_x[-1].name, source)))
    for o in objs:
        if sum(p.label == o.label for p in objs) == 1:
            qa.append((f"where is the {_answer(o.name, source)}?", o.position))
    return caption, qa


def _answer(name: str, source: str) -> str:
    return name if source == "mnist" else name.lower()


def digit_scenes(
    n: int,
    seed: int = 0,
    *,
    source: str = "mnist",
    split: str = "train",
    root: StrPath | None = None,
    canvas: int = 64,
    min_items: int = 2,
    max_items: int = 4,
    arrays: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Scene]:
    """``n`` scenes of ``min_items``-``max_items`` non-overlapping real digits (cropped to their ink) on a
    ``canvas`` x ``canvas`` black image. ``arrays`` = (uint8 images, labels) overrides the source split."""
    images, labels, class_names = _source(source, split, root, arrays)
    if canvas < 28 or not 1 <= min_items <= max_items:
        raise OmnivecError(f"need canvas >= 28 and 1 <= min_items <= max_items, got {canvas}, {min_items}-{max_items}")
    rng = _rng(seed, split, f"scenes-{source}-{canvas}")
    pick = _Picker(len(images), rng)
    scenes = []
    for _ in range(n):
        want = int(rng.integers(min_items, max_items + 1))
        img = np.zeros((canvas, canvas), np.uint8)
        mask = np.zeros((canvas, canvas), np.int64)
        objs: list[SceneObject] = []
        used: list[int] = []
        for _attempt in range(want * 20):
            if len(objs) == want:
                break
            i = pick()
            crop = _crop(images[i])
            h, w = crop.shape
            x0, y0 = int(rng.integers(0, canvas - w + 1)), int(rng.integers(0, canvas - h + 1))
            box = (x0, y0, x0 + w, y0 + h)
            if any(_overlaps(box, o.box) for o in objs):
                continue
            img[y0 : y0 + h, x0 : x0 + w] = crop  # boxes never overlap, so pasting is exact
            label = int(labels[i])
            mask[y0 : y0 + h, x0 : x0 + w][crop > MASK_INK] = 1 + label
            norm = (x0 / canvas, y0 / canvas, (x0 + w) / canvas, (y0 + h) / canvas)
            objs.append(SceneObject(label, class_names[label], box, norm, position_word(box, canvas, canvas)))
            used.append(i)
        caption, qa = _describe(objs, class_names, source, rng)
        image = torch.from_numpy(img).float().div_(255.0).unsqueeze(0)  # (1, H, W)
        scenes.append(Scene(image, torch.from_numpy(mask), objs, caption, qa, used))
    return scenes


def scene_segmentation(scenes: Sequence[Scene], class_names: Sequence[str], name: str = "") -> SampleDataset:
    """image -> (H, W) mask; classes = background + the source's classes (11 for MNIST)."""
    return SampleDataset(
        Modality.IMAGE,
        [s.image for s in scenes],
        [s.mask for s in scenes],
        ["background", *class_names],
        name,
    )


def scene_captions(scenes: Sequence[Scene], name: str = "") -> SampleDataset:
    """image -> caption (a text target, for captioning or image-text retrieval)."""
    return SampleDataset(Modality.IMAGE, [s.image for s in scenes], [s.caption for s in scenes], (), name)


def scene_vqa(scenes: Sequence[Scene], name: str = "") -> SampleDataset:
    """(image, question) -> answer string, one sample per question."""
    pairs = [((s.image, q), a) for s in scenes for q, a in s.qa]
    return SampleDataset(Modality.IMAGE, [p[0] for p in pairs], [p[1] for p in pairs], (), name)


def scene_grounding(scenes: Sequence[Scene], source: str = "mnist", name: str = "") -> SampleDataset:
    """(image, phrase "the 7") -> normalised box (4,) x0,y0,x1,y1; only objects whose class is unique."""
    samples, boxes = [], []
    for s in scenes:
        for o in s.objects:
            if sum(p.label == o.label for p in s.objects) == 1:
                samples.append((s.image, f"the {_answer(o.name, source)}"))
                boxes.append(torch.tensor(o.box_norm, dtype=torch.float32))
    return SampleDataset(Modality.IMAGE, samples, boxes, (), name)


SCENE_KINDS = ("segmentation", "captioning", "vqa", "grounding", "counting")


def scene_task(
    kind: str,
    n_train: int = 2000,
    n_test: int = 500,
    seed: int = 0,
    *,
    source: str = "mnist",
    root: StrPath | None = None,
    canvas: int = 64,
    min_items: int = 2,
    max_items: int = 4,
) -> TaskSplits:
    """One task made from digit scenes: segmentation, captioning, vqa, grounding or counting (classes
    min_items..max_items)."""
    kw = dict(source=source, root=root, canvas=canvas, min_items=min_items, max_items=max_items)
    train = digit_scenes(n_train, seed, split="train", **kw)  # type: ignore[arg-type]
    test = digit_scenes(n_test, seed, split="test", **kw)  # type: ignore[arg-type]
    names = list(DATASETS[source].class_names)
    desc = f"{kind} on {canvas}x{canvas} scenes of {min_items}-{max_items} real {source} images"
    tag = f"scenes-{source}-{kind}"
    if kind == "segmentation":
        tr, te = scene_segmentation(train, names, tag), scene_segmentation(test, names, tag)
        return TaskSplits(tr, te, Modality.IMAGE, kind, ["background", *names], desc, "derived")
    if kind == "captioning":
        return TaskSplits(
            scene_captions(train, tag), scene_captions(test, tag), Modality.IMAGE, kind, [], desc, "derived"
        )
    if kind == "vqa":
        return TaskSplits(scene_vqa(train, tag), scene_vqa(test, tag), Modality.IMAGE, kind, [], desc, "derived")
    if kind == "grounding":
        return TaskSplits(
            scene_grounding(train, source, tag),
            scene_grounding(test, source, tag),
            Modality.IMAGE,
            kind,
            [],
            desc,
            "derived",
        )
    if kind == "counting":
        counts = [str(k) for k in range(min_items, max_items + 1)]

        def count_ds(scenes: list[Scene]) -> SampleDataset:
            return SampleDataset(
                Modality.IMAGE,
                [s.image for s in scenes],
                [len(s.objects) - min_items for s in scenes],
                counts,
                tag,
            )

        return TaskSplits(count_ds(train), count_ds(test), Modality.IMAGE, "classification", counts, desc, "derived")
    raise OmnivecError(f"unknown scene task {kind!r}; expected one of {SCENE_KINDS}")


def scenes_to_arrays(scenes: Sequence[Scene]) -> dict[str, np.ndarray]:
    """Flat arrays (no pickles) for an .npz cache; :func:`scenes_from_arrays` inverts it exactly."""
    k = max((len(s.objects) for s in scenes), default=0)
    labels = np.full((len(scenes), k), -1, np.int16)
    boxes = np.full((len(scenes), k, 4), -1, np.int32)
    for i, s in enumerate(scenes):
        for j, o in enumerate(s.objects):
            labels[i, j], boxes[i, j] = o.label, o.box
    qa = [(i, q, a) for i, s in enumerate(scenes) for q, a in s.qa]
    return {
        "images": np.stack([(s.image[0] * 255).round().to(torch.uint8).numpy() for s in scenes]),
        "masks": np.stack([s.mask.to(torch.uint8).numpy() for s in scenes]),
        "labels": labels,
        "boxes": boxes,
        "captions": np.array([s.caption for s in scenes]),
        "qa_scene": np.array([t[0] for t in qa], np.int64),
        "questions": np.array([t[1] for t in qa]),
        "answers": np.array([t[2] for t in qa]),
        "sources": np.array([s.source_indices + [-1] * (k - len(s.source_indices)) for s in scenes], np.int64),
    }


def scenes_from_arrays(arrays: dict[str, np.ndarray], class_names: Sequence[str]) -> list[Scene]:
    images, masks = arrays["images"], arrays["masks"]
    h, w = images.shape[1:]
    qa: list[list[tuple[str, str]]] = [[] for _ in range(len(images))]
    for i, q, a in zip(arrays["qa_scene"], arrays["questions"], arrays["answers"]):
        qa[int(i)].append((str(q), str(a)))
    scenes = []
    for i in range(len(images)):
        objs = []
        for label, box in zip(arrays["labels"][i], arrays["boxes"][i]):
            if label < 0:
                continue
            b = (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
            norm = (b[0] / w, b[1] / h, b[2] / w, b[3] / h)
            objs.append(SceneObject(int(label), class_names[int(label)], b, norm, position_word(b, w, h)))
        image = torch.from_numpy(images[i].copy()).float().div_(255.0).unsqueeze(0)
        mask = torch.from_numpy(masks[i].astype(np.int64))
        used = [int(j) for j in arrays["sources"][i] if j >= 0]
        scenes.append(Scene(image, mask, objs, str(arrays["captions"][i]), qa[i], used))
    return scenes


# ------------------------------------------------------------------------------------------ moving digits

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
    images, labels, class_names = _source(source, split, root, arrays)
    d = images.shape[1]
    lim = size - d
    if lim < 0 or num_digits < 1 or num_frames < 1:
        raise OmnivecError(f"need size >= {d}, num_digits >= 1 and num_frames >= 1")
    rng = _rng(seed, split, f"moving-{source}-{size}-{num_frames}-{num_digits}")
    pick = _Picker(len(images), rng)
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
    one, _ = _noun(source)
    parts = []
    for c, dr, b in zip(digits, dirs, bounced):
        subject = (
            f"the {one} {_answer(class_names[c], source)}" if len(digits) == 1 else _phrase(class_names[c], source)
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
        names = list(DATASETS[source].class_names)
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


# -------------------------------------------------------------------------------------- digit point clouds


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
    images, labels, _ = _source(source, split, root, arrays)
    rng = _rng(seed, split, f"points-{source}-{num_points}")
    pick = _Picker(len(images), rng)
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
    names = list(DATASETS[source].class_names)
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


# ---------------------------------------------------------------------------------- spoken-digit captions


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
