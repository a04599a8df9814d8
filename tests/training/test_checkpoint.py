"""Run folders: identical outputs after a round trip; pickles refused; writes atomic; configs validated."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from conftest import sample_inputs
from omnivec.api.load import load
from omnivec.config import RunConfig, TrainConfig, field_docs, from_dict, load_yaml, preset, save_yaml
from omnivec.errors import OmnivecError
from omnivec.nn.model import OmniModel
from omnivec.runs import load_run, save_run
from omnivec.training import checkpoint as ckpt


def test_round_trip_gives_identical_outputs(model: OmniModel, tmp_path: Path) -> None:
    model.eval()
    save_run(model, preset("tiny"), tmp_path)
    loaded = load(tmp_path)
    for modality, samples in sample_inputs().items():
        assert torch.equal(model.embed(modality, samples), loaded.embed(modality, samples)), modality
    assert loaded.predict("cls_text", ["red cat"]) == model.predict("cls_text", ["red cat"])
    assert {p.name for p in tmp_path.iterdir()} >= {ckpt.CONFIG, ckpt.WEIGHTS, ckpt.TOKENIZER}


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_payload_is_refused_as_weights(model: OmniModel, tmp_path: Path) -> None:
    save_run(model, preset("tiny"), tmp_path)
    (tmp_path / ckpt.WEIGHTS).write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(OmnivecError, match="not a valid safetensors file"):
        load_run(tmp_path)


def test_pickle_payload_is_refused_as_training_state(tmp_path: Path, capsys) -> None:
    torch.save({"evil": Evil()}, tmp_path / ckpt.TRAIN_STATE)
    with pytest.raises(OmnivecError, match="refused"):
        ckpt.load_state(tmp_path / ckpt.TRAIN_STATE)
    assert "pwned" not in capsys.readouterr().out


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    ckpt.atomic_write_text(target, "old")

    def broken(p: Path) -> None:
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        ckpt.atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temp file left behind


def test_mismatched_weights_are_named(model: OmniModel, tmp_path: Path) -> None:
    save_run(model, preset("tiny"), tmp_path)
    state = ckpt.load_weights(tmp_path / ckpt.WEIGHTS)
    state.pop("trunk.norm.weight")
    ckpt.save_weights(state, tmp_path / ckpt.WEIGHTS)
    with pytest.raises(OmnivecError, match=r"missing \['trunk.norm.weight'\]"):
        load_run(tmp_path)


def test_yaml_round_trip_and_validation(tmp_path: Path) -> None:
    cfg = preset("small")
    cfg.tasks = ["shapes", "tones"]
    save_yaml(cfg, tmp_path / "c.yaml")
    assert load_yaml(RunConfig, tmp_path / "c.yaml") == cfg
    with pytest.raises(OmnivecError, match=r"train.max_steps: expected int"):
        from_dict(RunConfig, {"train": {"max_steps": "many"}})
    with pytest.raises(OmnivecError, match="unknown field"):
        from_dict(TrainConfig, {"learning_rate": 1.0})
    with pytest.raises(OmnivecError, match="unknown preset"):
        preset("huge")


def test_every_config_field_is_documented() -> None:
    for cls in (RunConfig, TrainConfig):
        import dataclasses

        missing = {f.name for f in dataclasses.fields(cls)} - set(field_docs(cls))
        assert not missing, f"{cls.__name__} fields without a docstring: {missing}"
