"""Task prompts: the text the encoder reads beside the image, video or audio (UnIVAL, arXiv 2307.16184 §3).

The caption, matching, grounding and grounded-captioning strings are UnIVAL's (with OFA's leading space, which
BPE treats as a word boundary). Summarization and classification-as-generation are ours, written in the same
style.
"""

from __future__ import annotations

from collections.abc import Sequence

MODALITIES = ("image", "video", "audio")
"""The modalities UnIVAL's encoders read beside the prompt (the paper's)."""
NOUNS = {"image": "image", "video": "video", "audio": "audio", "points": "point cloud", "text": "text"}
"""How a prompt names an input of each modality (point clouds and text documents: the user's manifests)."""


def _modality(modality: str) -> str:
    if modality not in NOUNS:
        raise ValueError(f"unknown modality {modality!r}; expected one of {tuple(NOUNS)}")
    return NOUNS[modality]


def caption_prompt(modality: str = "image") -> str:
    """Captioning: `` what does the image describe?`` (video, audio, point cloud and text likewise)."""
    return f" what does the {_modality(modality)} describe?"


def matching_prompt(text: str, modality: str = "image") -> str:
    """Image-text matching / visual entailment, answered yes or no."""
    return f' does the {_modality(modality)} describe " {text.strip()} "?'


def grounding_prompt(text: str) -> str:
    """Visual grounding, answered with four location tokens."""
    return f' which region does the text " {text.strip()} " describe?'


def grounded_caption_prompt(box_tokens: Sequence[str]) -> str:
    """Grounded captioning: describe the region given as four ``<bin_i>`` tokens."""
    return " what does the region describe? region: " + "".join(box_tokens)


def detection_prompt() -> str:
    """Object detection (OFA's detection pretraining): `` what are the objects in the image?``."""
    return " what are the objects in the image?"


def vqa_prompt(question: str) -> str:
    """VQA: the question itself (leading space, whitespace collapsed, ending in ``?``)."""
    q = " ".join(question.split())
    return " " + (q if q.endswith("?") else q + "?")


def summarization_prompt() -> str:
    """Text summarization (ours)."""
    return " what is the summary of the text?"


def classification_prompt(modality: str = "image") -> str:
    """Classification as generation: the answer is the class name (ours)."""
    return f" what does the {_modality(modality)} show?"
