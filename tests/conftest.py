"""Shared fixtures: a seeded tiny model with every encoder and head kind, and its sample inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from omnivec.config import TaskConfig, preset_model
from omnivec.nn.model import OmniModel
from omnivec.nn.tokenizer import TextTokenizer

CORPUS = [
    f"the {a} {b} is {c}"
    for a in ("red", "blue", "green")
    for b in ("cat", "dog", "car")
    for c in ("fast", "slow", "here", "there")
]


def sample_inputs(seed: int = 0) -> dict[str, list]:
    g = torch.Generator().manual_seed(seed)
    return {
        "image": [torch.rand(3, 16, 16, generator=g) for _ in range(3)],
        "video": [torch.rand(3, 4, 16, 16, generator=g) for _ in range(3)],
        "audio": [torch.randn(n, generator=g) * 0.3 for n in (2400, 4000, 3100)],
        "text": ["the red cat is fast", "blue dog", "the green car is there and here"],
        "points": [torch.randn(300, 3, generator=g) for _ in range(3)],
    }


@pytest.fixture(scope="session")
def tokenizer() -> TextTokenizer:
    return TextTokenizer.train(CORPUS * 4, vocab_size=300)


def tiny_model(tokenizer: TextTokenizer, vectorizer: str = "cls", num_meta_tokens: int = 0) -> OmniModel:
    torch.manual_seed(0)
    cfg = preset_model("tiny")
    cfg.vectorizer = vectorizer
    cfg.num_meta_tokens = num_meta_tokens
    cfg.encoders["text"].vocab_size = 300
    cfg.encoders["points"].hidden_dim = 16
    model = OmniModel(cfg, tokenizer)
    for m in ("image", "video", "audio", "text", "points"):
        model.add_task(TaskConfig(f"cls_{m}", "classification", m, num_classes=3, class_names=["a", "b", "c"]))
    model.add_task(TaskConfig("seg", "segmentation", "image", num_classes=4))
    model.add_task(TaskConfig("ret", "retrieval", "audio", pair_modality="image"))
    return model


@pytest.fixture
def model(tokenizer: TextTokenizer) -> OmniModel:
    return tiny_model(tokenizer)


def data_root() -> Path | None:
    """The staged real datasets: $OMNIVEC_DATA, else ../shared/data beside the checkout."""
    env = os.environ.get("OMNIVEC_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    guess = Path(__file__).resolve().parents[2] / "shared" / "data"
    return guess if guess.is_dir() else None
