"""Digit scenes: real digits (cropped to their ink) placed without overlap on a black canvas, with every
annotation the scene tasks need: a segmentation mask, boxes, a caption and questions with answers. One scene
list feeds segmentation, captioning, VQA, grounding and counting (:func:`scene_task`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from omnivec.data.base import SampleDataset, TaskSplits
from omnivec.data.datasets.cards import info
from omnivec.data.derived.common import MASK_INK, Picker, answer_word, derived_rng, digit_source, noun, phrase
from omnivec.data.root import StrPath
from omnivec.errors import OmnivecError
from omnivec.types import Modality

INK = 32
"""Pixels above this (of 255) count as ink when cropping a digit to its tight box."""


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


def reading_order(objs: Sequence[SceneObject]) -> list[SceneObject]:
    """Objects by row band (top, middle, bottom), then left to right: the order captions and detections name
    them in."""
    return sorted(
        objs,
        key=lambda o: (_ROWS.index(o.position.split()[0]) if o.position.split()[0] in _ROWS else 1, o.box[0]),
    )


def scene_detections(scenes: Sequence[Scene], source: str = "mnist", name: str = "") -> SampleDataset:
    """image -> every object as (normalised box (4,), name), in :func:`reading_order`: the detection view."""
    targets = [[(o.box_norm, answer_word(o.name, source)) for o in reading_order(s.objects)] for s in scenes]
    return SampleDataset(Modality.IMAGE, [s.image for s in scenes], targets, (), name)


def _describe(
    objs: list[SceneObject], class_names: list[str], source: str, rng: np.random.Generator
) -> tuple[str, list[tuple[str, str]]]:
    parts = [f"{phrase(o.name, source)} at the {o.position}" for o in reading_order(objs)]
    caption = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    one, many = noun(source)
    present = sorted({o.label for o in objs})
    absent = [c for c in range(len(class_names)) if c not in present]
    yes = class_names[present[int(rng.integers(len(present)))]]
    qa = [(f"how many {many} are there?", str(len(objs))), (f"is there {phrase(yes, source)}?", "yes")]
    if absent:
        no = class_names[absent[int(rng.integers(len(absent)))]]
        qa.append((f"is there {phrase(no, source)}?", "no"))
    by_x = sorted(objs, key=lambda o: o.box[0] + o.box[2])
    qa.append((f"what {one} is at the left?", answer_word(by_x[0].name, source)))
    qa.append((f"what {one} is at the right?", answer_word(by_x[-1].name, source)))
    for o in objs:
        if sum(p.label == o.label for p in objs) == 1:
            qa.append((f"where is the {answer_word(o.name, source)}?", o.position))
    return caption, qa


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
    images, labels, class_names = digit_source(source, split, root, arrays)
    if canvas < 28 or not 1 <= min_items <= max_items:
        raise OmnivecError(f"need canvas >= 28 and 1 <= min_items <= max_items, got {canvas}, {min_items}-{max_items}")
    rng = derived_rng(seed, split, f"scenes-{source}-{canvas}")
    pick = Picker(len(images), rng)
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
                samples.append((s.image, f"the {answer_word(o.name, source)}"))
                boxes.append(torch.tensor(o.box_norm, dtype=torch.float32))
    return SampleDataset(Modality.IMAGE, samples, boxes, (), name)


def scene_regions(scenes: Sequence[Scene], source: str = "mnist", name: str = "") -> SampleDataset:
    """(image, normalised box (4,) of one object) -> its phrase ("a 7"): every object of every scene, the
    grounded-captioning view (the inverse of :func:`scene_grounding`)."""
    samples, phrases = [], []
    for s in scenes:
        for o in s.objects:
            samples.append((s.image, torch.tensor(o.box_norm, dtype=torch.float32)))
            phrases.append(phrase(o.name, source))
    return SampleDataset(Modality.IMAGE, samples, phrases, (), name)


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
    names = list(info(source).class_names)
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
