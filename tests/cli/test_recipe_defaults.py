"""The recipe commands' own defaults: `pretrain` with the cpu preset runs the schedule that pays
(cli/recipe.PRETRAIN_SCHEDULE), `finetune` from a pretrained start decays the lr by layer
(api/finetune.PRETRAINED_LAYER_DECAY); anything the user names -- flag, --set, --config -- wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import omnivec.api.finetune as finetune_api
import omnivec.api.pretrain as pretrain_api
from omnivec.cli import main
from omnivec.cli.recipe import PRETRAIN_SCHEDULE


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The run config each command would have trained with (the training itself replaced)."""
    out: dict[str, Any] = {}

    def fake_pretrain(cfg: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        out["cfg"] = cfg
        return {}

    def fake_finetune(start: Any, tasks: Any, o: Any, train_cfg: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        out["train"] = train_cfg
        return {}

    monkeypatch.setattr(pretrain_api, "pretrain", fake_pretrain)
    monkeypatch.setattr(finetune_api, "finetune", fake_finetune)
    return out


def pretrain_schedule(seen: dict[str, Any], *flags: str) -> tuple[int, int]:
    assert main(["pretrain", "--tasks", "shapes", "--out", "X", "--quiet", *flags]) == 0
    return seen["cfg"].train.max_steps, seen["cfg"].train.batch_size


def test_pretrain_defaults_to_the_schedule_that_pays(seen: dict[str, Any], tmp_path: Path) -> None:
    steps, batch = (value for _, _, value in PRETRAIN_SCHEDULE)
    assert pretrain_schedule(seen) == (steps, batch) == (12000, 64)
    assert pretrain_schedule(seen, "--steps", "10") == (10, batch)
    assert pretrain_schedule(seen, "--set", "train.batch_size=8") == (steps, 8)
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  max_steps: 7\n")
    assert pretrain_schedule(seen, "--config", str(config)) == (7, batch)
    tiny = pretrain_schedule(seen, "--preset", "tiny")
    assert tiny != (steps, batch), "another preset keeps its own schedule"


def finetune_decay(seen: dict[str, Any], start: str, *flags: str) -> float:
    assert main(["finetune", start, "--tasks", "shapes", "--out", "X", "--quiet", *flags]) == 0
    return float(seen["train"].layer_decay)


def test_finetune_from_a_pretrained_start_decays_by_layer(seen: dict[str, Any], tmp_path: Path) -> None:
    pt = str(tmp_path / "pt")  # not read: the training is replaced
    assert finetune_decay(seen, pt) == finetune_api.PRETRAINED_LAYER_DECAY == 0.65
    assert finetune_decay(seen, "scratch") == 1.0, "nothing to keep from random weights"
    assert finetune_decay(seen, pt, "--layer-decay", "0.9") == 0.9
    assert finetune_decay(seen, pt, "--set", "train.layer_decay=1") == 1.0
