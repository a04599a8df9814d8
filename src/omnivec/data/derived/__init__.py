"""Derived multimodal tasks built deterministically from real MNIST / Fashion-MNIST / FSDD data, one module per
family.

There is no open image-caption, VQA, grounding, video or 3D dataset small enough to stage here (see
``shared/data/DATASETS.md``), so these tasks are *synthetic compositions of real data*: real digit images
placed on a canvas (segmentation, boxes, captions, questions), moved over frames (video, after the Moving-
MNIST procedure of Srivastava et al., "Unsupervised Learning of Video Representations using LSTMs", ICML
2015), lifted into 3D (point clouds), or described in words (FSDD captions). Every builder takes a seed and is
byte-identical for the same seed and source; train tasks draw from the source's train split and test tasks
from its test split, so no test digit is ever seen in training. Dataset cards: ``docs/data.md``.

=================  ========================================================================================
digit_scenes.py    digits on a canvas: segmentation, captions, VQA, grounding boxes, counting
moving_digits.py   Moving-MNIST clips: digit, direction, captions
digit_points.py    digit strokes extruded into 3D point clouds
spoken_digits.py   FSDD recordings with spoken-digit captions
common.py          the seeded streams and source draws all of them share
=================  ========================================================================================

These build data (``TaskSplits``); the catalogue entries that train on them (``digit-scenes``, ...) are in
:mod:`omnivec.data.real_tasks`, and UnIVAL's seq2seq tasks in :mod:`omnivec.families.unival.tasks`.
"""

from omnivec.data.derived.digit_points import digit_point_clouds, digit_points_task
from omnivec.data.derived.digit_scenes import (
    SCENE_KINDS,
    Scene,
    SceneObject,
    digit_scenes,
    position_word,
    scene_captions,
    scene_detections,
    scene_grounding,
    scene_regions,
    scene_segmentation,
    scene_task,
    scene_vqa,
    scenes_from_arrays,
    scenes_to_arrays,
)
from omnivec.data.derived.moving_digits import DIRECTIONS, MOVING_KINDS, MovingClip, moving_digits, moving_digits_task
from omnivec.data.derived.spoken_digits import spoken_caption, spoken_digit_captions

__all__ = [
    "DIRECTIONS",
    "MOVING_KINDS",
    "SCENE_KINDS",
    "MovingClip",
    "Scene",
    "SceneObject",
    "digit_point_clouds",
    "digit_points_task",
    "digit_scenes",
    "moving_digits",
    "moving_digits_task",
    "position_word",
    "scene_captions",
    "scene_detections",
    "scene_grounding",
    "scene_regions",
    "scene_segmentation",
    "scene_task",
    "scene_vqa",
    "scenes_from_arrays",
    "scenes_to_arrays",
    "spoken_caption",
    "spoken_digit_captions",
]
