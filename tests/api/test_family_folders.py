"""Every run folder format loads and scores the same through the family registry: a run of each family as its
trainer writes it (its ``eval.json`` is the score at the end of training), and the older spellings of
``config.yaml`` (an OmniVec folder with no ``family:``, a UnIVAL folder with ``kind: unival``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

import omnivec
from data_helpers import real_root
from omnivec.api.evaluate import evaluate_run
from omnivec.api.train import train
from omnivec.config import preset
from omnivec.errors import OmnivecError
from omnivec.families.registry import FAMILIES, family, family_of_run, load_config
from omnivec.families.unival.config import unival_preset
from omnivec.families.unival.train import finetune
from omnivec.runs import FAMILY_DESCRIPTIONS as DESCRIPTIONS
from omnivec.training import checkpoint as ckpt

LIMIT = 4
"""UnIVAL samples generated per task at evaluation (training's and ours)."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    cfg = preset("tiny")
    cfg.tasks = ["shapes", "tones"]
    cfg.train.max_steps, cfg.num_train, cfg.num_test = 3, 32, 16
    train(cfg, root / "omnivec", progress=False)
    ucfg = unival_preset("tiny")
    ucfg.data_root = str(real_root())
    ucfg.num_train, ucfg.num_test, ucfg.train.batch_size = 16, 8, 8
    finetune(None, ["caption_image"], root / "unival", ucfg, steps=3, progress=False, eval_limit=LIMIT, device="cpu")
    return {"omnivec": root / "omnivec", "unival": root / "unival"}


def _old_style(run: Path, out: Path, key: str | None) -> Path:
    """A copy of ``run`` whose config.yaml names its family the old way: under ``key``, or not at all."""
    shutil.copytree(run, out)
    data = yaml.safe_load((out / ckpt.CONFIG).read_text())
    name = data.pop("family")
    if key is not None:
        data[key] = name
    (out / ckpt.CONFIG).write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _values(results: dict[str, dict]) -> dict[str, float]:
    return {task: r["value"] for task, r in results.items()}


def test_every_family_a_folder_may_declare_is_registered() -> None:
    assert FAMILIES.names() == sorted(DESCRIPTIONS)
    for name in FAMILIES:
        assert family(name).name == name and family(name).description == DESCRIPTIONS[name]
    with pytest.raises(OmnivecError, match="unknown model family 'nope'"):
        family("nope")


@pytest.mark.parametrize("name", ["omnivec", "unival"])
def test_a_run_scores_what_its_training_scored(runs: dict[str, Path], name: str) -> None:
    run = runs[name]
    trained = json.loads((run / "eval.json").read_text())
    assert _values(evaluate_run(run, device="cpu", limit=LIMIT)) == _values(trained)
    assert family_of_run(run).name == name and load_config(run).family == name


@pytest.mark.parametrize(("name", "key"), [("omnivec", None), ("unival", "kind")])
def test_an_old_style_folder_loads_and_scores_the_same(
    runs: dict[str, Path], tmp_path: Path, name: str, key: str | None
) -> None:
    old = _old_style(runs[name], tmp_path / "old", key)
    assert family_of_run(old).name == name and load_config(old).family == name
    new_model, old_model = omnivec.load(runs[name], "cpu"), omnivec.load(old, "cpu")
    assert type(new_model) is type(old_model)
    a, b = new_model.state_dict(), old_model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    now = evaluate_run(runs[name], device="cpu", limit=LIMIT)
    assert _values(evaluate_run(old, device="cpu", limit=LIMIT)) == _values(now)


@pytest.mark.parametrize("name", ["omnivec", "unival"])
def test_save_then_load_through_the_family_is_bit_identical(runs: dict[str, Path], tmp_path: Path, name: str) -> None:
    fam = family(name)
    model, cfg = fam.load(runs[name], ckpt.WEIGHTS)
    fam.save(model, cfg, tmp_path / "again")
    assert (tmp_path / "again" / ckpt.CONFIG).read_bytes() == (runs[name] / ckpt.CONFIG).read_bytes()
    a = ckpt.load_weights(runs[name] / ckpt.WEIGHTS)
    b = ckpt.load_weights(tmp_path / "again" / ckpt.WEIGHTS)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    again, _ = fam.load(tmp_path / "again", ckpt.WEIGHTS)
    assert fam.backbone(again).cfg == fam.backbone(model).cfg
