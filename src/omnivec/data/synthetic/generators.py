"""The registry of generated datasets: :data:`GENERATORS` (name -> generator and what it makes) and
:func:`make_splits`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omnivec.data.base import SampleDataset, TaskSplits
from omnivec.data.synthetic.signals import SOLID_NAMES, TONE_NAMES, solids, tones
from omnivec.data.synthetic.text import TOPIC_NAMES, topics
from omnivec.data.synthetic.vision import DIRECTION_NAMES, SHAPE_NAMES, motion, shape_scenes, shapes
from omnivec.registry import Registry
from omnivec.types import Modality


@dataclass(frozen=True)
class GeneratorInfo:
    """What a task builder needs to know about one generator before calling it."""

    fn: Callable[..., SampleDataset]
    modality: Modality
    kind: str
    """'classification' (int targets) or 'segmentation' ((H, W) int64 targets)."""
    class_names: tuple[str, ...]
    description: str
    chance: str = ""
    """What a model that learned nothing scores, to read results against."""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


GENERATORS: Registry[GeneratorInfo] = Registry("generated dataset")

for _name, _info in {
    "shapes": GeneratorInfo(
        shapes,
        Modality.IMAGE,
        "classification",
        tuple(SHAPE_NAMES),
        "32x32 RGB: one equal-area shape, random colour/size/position/rotation, textured noisy background",
        "25% accuracy (balanced classes)",
    ),
    "shape_scenes": GeneratorInfo(
        shape_scenes,
        Modality.IMAGE,
        "segmentation",
        ("background", *SHAPE_NAMES),
        "32x32 RGB: 1-3 possibly overlapping shapes; per-pixel class mask, 0 = background",
        "all-background scores ~85% pixel accuracy but ~17% mean IoU; report mIoU",
    ),
    "motion": GeneratorInfo(
        motion,
        Modality.VIDEO,
        "classification",
        tuple(DIRECTION_NAMES),
        "(3, 8, 32, 32) clips: a square or disc moving left/right/up/down past a static distractor",
        "25% accuracy (balanced classes)",
    ),
    "tones": GeneratorInfo(
        tones,
        Modality.AUDIO,
        "classification",
        tuple(TONE_NAMES),
        "0.4-1.0 s mono clips at 8 kHz: low/high tone, rising/falling chirp or noise burst, random onset",
        "20% accuracy (balanced classes)",
    ),
    "topics": GeneratorInfo(
        topics,
        Modality.TEXT,
        "classification",
        tuple(TOPIC_NAMES),
        "templated English sentences; the topic shows only in the content words",
        "20% accuracy (balanced classes)",
    ),
    "solids": GeneratorInfo(
        solids,
        Modality.POINTS,
        "classification",
        tuple(SOLID_NAMES),
        "256 surface points of a randomly stretched and rotated sphere/cube/cylinder/cone/torus",
        "20% accuracy (balanced classes)",
    ),
}.items():
    GENERATORS.register(_name)(_info)


def make_splits(name: str, num_train: int = 2000, num_test: int = 500, seed: int = 0, **kwargs: Any) -> TaskSplits:
    """Train and test splits of generator ``name``; ``kwargs`` (e.g. ``image_size``) go to the generator."""
    info = GENERATORS.get(name)  # KeyError naming the known ones
    return TaskSplits(
        train=info.fn("train", num_train, seed, **kwargs),
        test=info.fn("test", num_test, seed, **kwargs),
        modality=info.modality,
        kind=info.kind,
        class_names=list(info.class_names),
        description=info.description,
        source="generated",
    )
