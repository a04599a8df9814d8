"""A corrupted or mismatched checkpoint is one clear error naming the file and the key, and nothing is written:
missing keys, wrong shapes, an unknown model_type, unsupported settings, and a pickle that would run code (refused
by weights_only=True before any of it runs)."""

from __future__ import annotations

import json
import pathlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from hf_helpers import vit_folder
from omnivec.cli import main
from omnivec.errors import CheckpointError
from omnivec.hf import import_hf


def refused(src: Path, tmp_path: Path, *needles: str) -> CheckpointError:
    out = tmp_path / "run"
    with pytest.raises(CheckpointError) as e:
        import_hf(src, out)
    for needle in needles:
        assert needle in str(e.value)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]  # no temporary folder left either
    return e.value


def edit_weights(src: Path, edit: object) -> None:
    path = src / "model.safetensors"
    state = load_file(str(path))
    edit(state)  # type: ignore[operator]
    save_file(state, str(path))


def test_missing_key_names_file_and_key(tmp_path: Path) -> None:
    _, src = vit_folder(tmp_path / "hf")
    key = "encoder.layer.1.attention.attention.value.weight"
    edit_weights(src, lambda s: s.pop(key))
    e = refused(src, tmp_path, "model.safetensors", key, "missing")
    assert e.key == key


def test_wrong_shape_names_file_key_and_shapes(tmp_path: Path) -> None:
    _, src = vit_folder(tmp_path / "hf")
    key = "encoder.layer.0.intermediate.dense.weight"
    edit_weights(src, lambda s: s.update({key: torch.zeros(48, 32)}))
    refused(src, tmp_path, "model.safetensors", key, "(48, 32)", "(64, 32)")


def test_unknown_model_type_lists_the_supported_ones(tmp_path: Path) -> None:
    _, src = vit_folder(tmp_path / "hf")
    cfg = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**cfg, "model_type": "gpt2"}))
    refused(src, tmp_path, "config.json", "model_type", "'gpt2'", "bert", "vit_mae")


def test_unsupported_setting_is_an_error_not_a_silent_difference(tmp_path: Path) -> None:
    _, src = vit_folder(tmp_path / "hf")
    cfg = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**cfg, "hidden_act": "relu"}))
    refused(src, tmp_path, "config.json", "hidden_act", "'relu'")


class RunsCode:
    """Unpickling this would call ``Path.touch(marker)``: code execution by a checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (pathlib.Path.touch, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path: Path) -> None:
    _, src = vit_folder(tmp_path / "hf")
    state = load_file(str(src / "model.safetensors"))
    (src / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    torch.save({**state, "payload": RunsCode(marker)}, src / "pytorch_model.bin")
    refused(src, tmp_path, "pytorch_model.bin", "refused")
    assert not marker.exists()  # weights_only=True refused the payload before calling it


def test_the_cli_prints_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, src = vit_folder(tmp_path / "hf")
    edit_weights(src, lambda s: s.pop("layernorm.weight"))
    assert main(["import", str(src), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("omnivec import: error: ") and "layernorm.weight" in err
    assert not (tmp_path / "run").exists()


def test_an_existing_run_folder_is_never_overwritten(tmp_path: Path) -> None:
    _, src = vit_folder(tmp_path / "hf")
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["import", str(src), "--out", str(out)]) == 2
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_no_weights_file_is_named(tmp_path: Path) -> None:
    _, src = vit_folder(tmp_path / "hf")
    (src / "model.safetensors").unlink()
    refused(src, tmp_path, "model.safetensors", "pytorch_model.bin")


def test_init_from_the_other_family_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hf_helpers import bart_folder

    _, _, src = bart_folder(tmp_path / "hf")
    argv = ["train", "--init", str(src), "--tasks", "topics", "--out", str(tmp_path / "o"), "--quiet"]
    assert main(argv) == 2
    assert "not an OmniVec run" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
