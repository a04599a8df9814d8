"""The built-in seq2seq tasks on the derived digit data and SciTLDR (the table in :mod:`omnivec.families.unival.tasks`),
registered on import, and the pretraining stages that mix them."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import torch
from torch.utils.data import Dataset

from omnivec.errors import OmnivecError
from omnivec.families.unival import prompts as P
from omnivec.families.unival.config import UnivalRunConfig
from omnivec.families.unival.task_registry import Example, Seq2SeqDataset, Seq2SeqTask, register
from omnivec.tasks.locations import box_to_tokens, detections_to_text


def _root(cfg: UnivalRunConfig) -> Any:
    return cfg.data_root or None


def _seed(cfg: UnivalRunConfig) -> int:
    """The run's seed draws the derived data (as ``train.seed`` does for the OmniVec catalogue's tasks)."""
    return cfg.train.seed


def _need(name: str, cfg: UnivalRunConfig) -> None:
    from omnivec.data.datasets import is_present

    if not is_present(name, _root(cfg)):
        raise OmnivecError(f"the {name} dataset is not under the data root (set OMNIVEC_DATA or data_root)")


_CACHE: dict[tuple[Any, ...], Any] = {}


_COUNTS = ["two", "three", "four"]
"""classify_image's classes: how many digits a scene holds."""


def _scene_counts(scenes: Any) -> Any:
    from omnivec.data.base import SampleDataset

    return SampleDataset("image", [s.image for s in scenes], [len(s.objects) - 2 for s in scenes], _COUNTS)


def _scenes(view: Callable[[Any], Any], cfg: UnivalRunConfig) -> Any:
    """One set of digit scenes per split (drawn once per process), seen through ``view`` as captioning, vqa,
    grounding or counting data: the image tasks share their images, as UnIVAL's tasks share COCO's."""
    from omnivec.data.derived import digit_scenes

    _need("mnist", cfg)
    key = ("scenes", cfg.num_train, cfg.num_test, cfg.data_root, _seed(cfg))
    if key not in _CACHE:
        _CACHE[key] = (
            digit_scenes(cfg.num_train, _seed(cfg), split="train", root=_root(cfg)),
            digit_scenes(cfg.num_test, _seed(cfg), split="test", root=_root(cfg)),
        )
    train, test = (view(s) for s in _CACHE[key])
    return SimpleNamespace(train=train, test=test, class_names=_COUNTS)


# ------------------------------------------------------------------------------------------------ image


def _caption_image(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    from omnivec.data.derived import scene_captions

    sp = _scenes(scene_captions, cfg)
    return tuple(Seq2SeqDataset(d, lambda i, s, t: (s, t, t)) for d in (sp.train, sp.test))  # type: ignore[return-value]


def _vqa_image(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    from omnivec.data.derived import scene_vqa

    sp = _scenes(scene_vqa, cfg)
    return tuple(Seq2SeqDataset(d, lambda i, s, t: (s, t, t)) for d in (sp.train, sp.test))  # type: ignore[return-value]


def _grounding_image(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    from omnivec.data.derived import scene_grounding

    sp = _scenes(scene_grounding, cfg)
    n = cfg.model.num_bins

    def conv(i: int, s: Any, box: Any) -> Example:
        return s, "".join(box_to_tokens(box.tolist(), n)), box

    return Seq2SeqDataset(sp.train, conv), Seq2SeqDataset(sp.test, conv)


def _region_image(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    """Grounded captioning: one object's box as location tokens in the prompt -> its phrase ("a 7")."""
    from omnivec.data.derived import scene_regions

    sp = _scenes(scene_regions, cfg)
    n = cfg.model.num_bins

    def conv(i: int, s: Any, t: Any) -> Example:
        image, box = s
        return (image, "".join(box_to_tokens(box.tolist(), n))), t, t

    return Seq2SeqDataset(sp.train, conv), Seq2SeqDataset(sp.test, conv)


def one_digit_scenes(cfg: UnivalRunConfig) -> tuple[list[Any], list[Any]]:
    """(train, test) scenes of one digit alone on the scenes' canvas, drawn once per process."""
    from omnivec.data.derived import digit_scenes

    _need("mnist", cfg)
    key = ("one-digit", cfg.num_train, cfg.num_test, cfg.data_root, _seed(cfg))
    if key not in _CACHE:
        n = {"train": cfg.num_train, "test": cfg.num_test}
        _CACHE[key] = tuple(
            digit_scenes(n[split], _seed(cfg), split=split, root=_root(cfg), min_items=1, max_items=1)
            for split in ("train", "test")
        )
    return _CACHE[key]


def _digit_image(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    """One digit alone on the scenes' canvas -> its name: recognition, the analogue of the ImageNet pretraining
    UnIVAL's ResNet starts from (the derived scenes have no other source of "which digit is this")."""
    from omnivec.data.derived.common import answer_word

    def example(scene: Any) -> Example:
        name = answer_word(scene.objects[0].name, "mnist")
        return scene.image, name, name

    train, test = one_digit_scenes(cfg)
    return [example(s) for s in train], [example(s) for s in test]  # type: ignore[return-value]


def _detect_image(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    """Every digit's box and name in one answer (OFA's detection pretraining task)."""
    from omnivec.data.derived import scene_detections

    sp = _scenes(scene_detections, cfg)
    n = cfg.model.num_bins
    return tuple(Seq2SeqDataset(d, lambda i, s, t: (s, detections_to_text(t, n), t)) for d in (sp.train, sp.test))  # type: ignore[return-value]


def _matching_image(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    """Every other sample pairs an image with another scene's caption (answer no), the rest with its own
    (yes); a negative caption is never equal to the image's own."""
    from omnivec.data.derived import scene_captions

    sp = _scenes(scene_captions, cfg)

    def make(ds: Any) -> Dataset:
        n = len(ds)

        def conv(i: int, s: Any, t: Any) -> Example:
            if i % 2 == 0 or n < 2:
                return (s, t), "yes", "yes"
            for k in range(1, n):
                other = ds[(i + 7 * k) % n][1]
                if other != t:
                    return (s, other), "no", "no"
            return (s, t), "yes", "yes"

        return Seq2SeqDataset(ds, conv)

    return make(sp.train), make(sp.test)


def _classify_image(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    sp = _scenes(_scene_counts, cfg)
    names = sp.class_names
    return tuple(Seq2SeqDataset(d, lambda i, s, t: (s, names[t], names[t])) for d in (sp.train, sp.test))  # type: ignore[return-value]


# -------------------------------------------------------------------------------- video, audio, text


def _caption_video(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    from omnivec.data.derived import moving_digits_task

    _need("mnist", cfg)
    key = ("video", cfg.num_train, cfg.num_test, cfg.data_root, _seed(cfg))
    if key not in _CACHE:
        _CACHE[key] = moving_digits_task(
            "captioning", cfg.num_train, cfg.num_test, _seed(cfg), root=_root(cfg), num_frames=8, size=64
        )
    sp = _CACHE[key]
    return tuple(Seq2SeqDataset(d, lambda i, s, t: (s, t, t)) for d in (sp.train, sp.test))  # type: ignore[return-value]


def _caption_audio(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    from omnivec.data.derived import spoken_digit_captions

    _need("fsdd", cfg)
    key = ("audio", cfg.num_train, cfg.data_root, _seed(cfg))
    if key not in _CACHE:
        _CACHE[key] = spoken_digit_captions(_root(cfg), sample_rate=8000, limit=cfg.num_train, seed=_seed(cfg))
    sp = _CACHE[key]
    test = torch.utils.data.Subset(sp.test, range(min(len(sp.test), cfg.num_test)))
    return tuple(Seq2SeqDataset(d, lambda i, s, t: (s, t, t)) for d in (sp.train, test))  # type: ignore[return-value]


def _summarize_text(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    from omnivec.data.datasets import load_scitldr

    _need("scitldr", cfg)
    sp = load_scitldr(_root(cfg), limit=cfg.num_train, seed=_seed(cfg))
    refs = sp.test.references  # type: ignore[attr-defined]
    test = torch.utils.data.Subset(sp.test, range(min(len(sp.test), cfg.num_test)))  # type: ignore[arg-type]
    return (
        Seq2SeqDataset(sp.train, lambda i, s, t: (s, t, [t])),
        Seq2SeqDataset(test, lambda i, s, t: (s, t, refs[i])),
    )


def _pair(prompt: Callable[[str], str]) -> Callable[[Any], tuple[str, Any]]:
    def f(raw: Any) -> tuple[str, Any]:
        if not (isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[1], str)):
            raise OmnivecError("this task's input is a pair (sample, text)")
        return prompt(raw[1]), raw[0]

    return f


register(
    Seq2SeqTask(
        "caption_image",
        "captioning",
        "image",
        "digit-scene captions",
        _caption_image,
        lambda x: (P.caption_prompt("image"), x),
        30,  # a four-digit scene's caption is up to 27 tokens; 20 cut 38 % of the test captions short
    )
)
register(Seq2SeqTask("vqa_image", "vqa", "image", "digit-scene questions", _vqa_image, _pair(P.vqa_prompt), 6))
register(
    Seq2SeqTask(
        "grounding_image",
        "grounding",
        "image",
        "digit-scene boxes",
        _grounding_image,
        _pair(P.grounding_prompt),
        4,
    )
)
register(
    Seq2SeqTask(
        "region_image",
        "grounded_captioning",
        "image",
        "digit-scene grounded captions (box -> phrase)",
        _region_image,
        _pair(lambda t: P.grounded_caption_prompt([t])),
        3,
    )
)
register(
    Seq2SeqTask(
        "digit_image",
        "classification",
        "image",
        "one digit on the canvas -> its name",
        _digit_image,
        lambda x: (P.vqa_prompt("what digit is in the image?"), x),
        3,
    )
)
register(
    Seq2SeqTask(
        "detect_image",
        "detection",
        "image",
        "digit-scene detection (every box and name)",
        _detect_image,
        lambda x: (P.detection_prompt(), x),
        24,  # four digits, five tokens each, with room
    )
)
register(
    Seq2SeqTask(
        "matching_image",
        "matching",
        "image",
        "digit-scene image-text matching",
        _matching_image,
        _pair(lambda t: P.matching_prompt(t, "image")),
        2,
    )
)
register(
    Seq2SeqTask(
        "classify_image",
        "classification",
        "image",
        "digit count as generation",
        _classify_image,
        lambda x: (P.classification_prompt("image"), x),
        3,
    )
)
register(
    Seq2SeqTask(
        "caption_video",
        "captioning",
        "video",
        "moving-digit captions",
        _caption_video,
        lambda x: (P.caption_prompt("video"), x),
    )
)
register(
    Seq2SeqTask(
        "caption_audio",
        "captioning",
        "audio",
        "spoken-digit captions (FSDD)",
        _caption_audio,
        lambda x: (P.caption_prompt("audio"), x),
    )
)
register(
    Seq2SeqTask(
        "summarize_text",
        "summarization",
        "text",
        "SciTLDR abstract -> TLDR",
        _summarize_text,
        lambda x: (P.summarization_prompt() + " " + str(x), None),
        30,
        "real",
    )
)

STAGE1 = [
    "caption_image",
    "vqa_image",
    "grounding_image",
    "matching_image",
    "classify_image",
    "detect_image",
    "digit_image",
]
"""Pretraining stage 1: image-text tasks. ``detect_image`` and ``digit_image`` teach what and where a digit is
(OFA's detection pretraining; the ImageNet start of UnIVAL's ResNet): beside them grounding reached 0.27 and
0.25 in 1000 steps, against 0.03 alone (docs/unival.md, "Recognition and detection in the mix")."""
STAGE2 = ["caption_video"]
"""Added in stage 2: video-text. Audio is never in pretraining (the unseen-modality claim)."""
