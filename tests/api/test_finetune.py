"""The grouped schedule visits tasks in the configured order (read back from the metrics log)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnivec.api.finetune import default_groups, finetune, make_phases, parse_groups
from omnivec.api.pretrain import pretrain
from omnivec.config import preset
from omnivec.errors import OmnivecError


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


@pytest.mark.slow
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
    from omnivec.experiments.ablations import resolve_suite

    name, tasks, held = resolve_suite("auto", "")
    assert name == "generated" and held == "shapes" and "scenes" in tasks
    assert resolve_suite("shapes,tones", "")[1] == ["shapes", "tones"]
    with pytest.raises(OmnivecError):
        resolve_suite("no-such-task", "")


def test_generalisation_reads_the_held_out_dataset_through_the_byo_path(pretrained: Path, tmp_path: Path) -> None:
    """The ablation's generalisation row: the held-out image dataset is written as PNG class folders and both
    the fine-tuned and the from-scratch run read it as a user's own data (--train/--val)."""
    import shutil

    from omnivec.experiments.ablations import BUDGETS, generalisation

    shutil.copytree(pretrained, tmp_path / "pt-heldout")
    b = BUDGETS["tiny"]
    ft, scratch, path = generalisation(tmp_path, b, "", 0, "shapes", steps=2)
    assert path == "byo"
    train_pngs = list((tmp_path / "heldout-data" / "train").glob("*/*.png"))
    test_pngs = list((tmp_path / "heldout-data" / "test").glob("*/*.png"))
    assert len(train_pngs) == b.num_train and len(test_pngs) == b.num_test
    assert len({p.parent.name for p in train_pngs}) == 4  # one folder per shapes class
    for run in ("gen-ft", "gen-scratch"):
        ev = json.loads((tmp_path / run / "eval.json").read_text())
        assert list(ev) == ["shapes-byo"] and ev["shapes-byo"]["count"] == b.num_test
    assert json.loads((tmp_path / "gen-ft" / "schedule.json").read_text())["start"] == str(tmp_path / "pt-heldout")
    assert 0.0 <= ft["shapes"] <= 1.0 and 0.0 <= scratch["shapes"] <= 1.0


def test_finetune_cli_takes_a_users_folder(pretrained: Path, tmp_path: Path) -> None:
    from PIL import Image

    from omnivec.cli import main

    for split, n in (("train", 6), ("val", 4)):
        for c in ("dark", "light"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                Image.new("L", (28, 28), 30 if c == "dark" else 220).save(tmp_path / split / c / f"{i}.png")
    out = tmp_path / "ft"
    rc = main(["finetune", str(pretrained), "--train", str(tmp_path / "train"), "--val", str(tmp_path / "val"),
               "--out", str(out), "--steps", "2", "--batch-size", "4", "--quiet"])  # fmt: skip
    assert rc == 0
    ev = json.loads((out / "eval.json").read_text())
    name = tmp_path.name.lower().replace(".", "-")  # a folder called train is named after its parent
    assert list(ev) == [name] and ev[name]["count"] == 8


def test_finetune_python_takes_a_users_folder_like_the_cli(tmp_path: Path) -> None:
    """finetune(..., byo=...) without ``groups``: the bring-your-own task is grouped from the run's config (it
    is not in the catalogue) and joins the tasks even when only ``byo`` names it, as --train does."""
    from PIL import Image

    from omnivec.data.byo import byo_spec

    for split, n in (("train", 6), ("val", 2)):
        for c in ("dark", "light"):
            (tmp_path / "glyphs" / split / c).mkdir(parents=True)
            for i in range(n):
                Image.new("L", (28, 28), 30 + i if c == "dark" else 220 - i).save(
                    tmp_path / "glyphs" / split / c / f"{i}.png"
                )
    byo = {"glyphs": byo_spec(str(tmp_path / "glyphs" / "train"), str(tmp_path / "glyphs" / "val"))}
    cfg = preset("tiny")
    cfg.num_train, cfg.num_test = 8, 4
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.log_every = 2, 4, 1
    res = finetune(None, ["glyphs"], tmp_path / "a", cfg.train, rounds=1, run_cfg=cfg, progress=False, byo=byo)
    assert list(res) == ["glyphs"] and res["glyphs"]["count"] == 4
    # only byo names it: it is fine-tuned beside the catalogue task
    res = finetune(None, ["shapes"], tmp_path / "b", cfg.train, rounds=1, run_cfg=cfg, progress=False, byo=byo)
    assert set(res) == {"shapes", "glyphs"}
    assert _log_tasks(tmp_path / "b") == ["shapes,glyphs"] * 2  # both "simple": one group, mixed


def test_ablation_section_replaces_only_its_part_of_the_results_page(tmp_path: Path) -> None:
    from omnivec.experiments.reproduce import SECTION_END, SECTION_START, write_section

    page = tmp_path / "results.md"
    write_section(page, "## table v1\n")
    assert page.read_text() == f"{SECTION_START}\n## table v1\n{SECTION_END}\n"
    page.write_text("# Results\n\nquickstart\n\n" + page.read_text() + "\n## later section\n")
    write_section(page, "## table v2\n")
    text = page.read_text()
    assert text.startswith("# Results\n\nquickstart\n\n") and text.endswith("## later section\n")
    assert "v2" in text and "v1" not in text and text.count(SECTION_START) == 1
