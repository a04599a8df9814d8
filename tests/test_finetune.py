"""The grouped schedule visits tasks in the configured order (read back from the metrics log)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnivec.config import preset
from omnivec.errors import OmnivecError
from omnivec.finetune import default_groups, finetune, make_phases, parse_groups
from omnivec.pretrain import pretrain


def _log_tasks(run: Path) -> list[str]:
    return [json.loads(line)["tasks"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_phases_split_steps_exactly() -> None:
    ph = make_phases([["a", "b"], ["c"]], 3, 20)
    assert [(p.round, p.group) for p in ph] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert sum(p.steps for p in ph) == 20 and all(p.steps >= 3 for p in ph)
    assert [p.start for p in ph] == [sum(q.steps for q in ph[:i]) for i in range(6)]
    w = make_phases([["a", "b"], ["c"]], 1, 30, weights=[2, 1])
    assert [p.steps for p in w] == [20, 10]
    with pytest.raises(OmnivecError):
        make_phases([["a"], ["b"]], 2, 3)


def test_default_and_parsed_groups() -> None:
    assert default_groups(["scenes", "shapes", "tones"]) == [["shapes", "tones"], ["scenes"]]
    assert parse_groups("scenes;tones,shapes", ["shapes", "scenes", "tones"]) == [
        ["scenes"],
        ["tones", "shapes"],
    ]
    with pytest.raises(OmnivecError):
        parse_groups("scenes;tones", ["shapes", "scenes", "tones"])


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = preset("tiny")
    cfg.num_train, cfg.num_test = 16, 8
    cfg.tasks = ["shapes", "tones"]
    cfg.train.max_steps, cfg.train.batch_size = 2, 4
    out = tmp_path_factory.mktemp("ft") / "pt"
    pretrain(cfg, out, progress=False)
    return out


def test_grouped_order_from_log(pretrained: Path, tmp_path: Path) -> None:
    cfg = preset("tiny")
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.log_every = 8, 4, 1
    res = finetune(
        pretrained,
        ["shapes", "scenes", "tones"],
        tmp_path / "ft",
        cfg.train,
        groups=[["scenes"], ["shapes", "tones"]],
        rounds=2,
        progress=False,
    )
    assert _log_tasks(tmp_path / "ft") == ["scenes"] * 2 + ["shapes,tones"] * 2 + ["scenes"] * 2 + ["shapes,tones"] * 2
    assert set(res) == {"shapes", "scenes", "tones"}
    assert res["scenes"]["metric"] == "miou"


def test_unmixed_takes_one_task_per_step(pretrained: Path, tmp_path: Path) -> None:
    cfg = preset("tiny")
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.log_every = 6, 4, 1
    finetune(
        pretrained,
        ["shapes", "tones", "scenes"],
        tmp_path / "ft",
        cfg.train,
        rounds=1,
        mix=False,
        weights=[2, 1],
        progress=False,
    )
    assert _log_tasks(tmp_path / "ft") == ["shapes", "tones", "shapes", "tones", "scenes", "scenes"]


def test_reproduce_suite_falls_back_to_generated() -> None:
    from omnivec.reproduce import resolve_suite

    name, tasks, held = resolve_suite("auto", "")
    assert name == "generated" and held == "shapes" and "scenes" in tasks
    assert resolve_suite("shapes,tones", "")[1] == ["shapes", "tones"]
    with pytest.raises(OmnivecError):
        resolve_suite("no-such-task", "")
