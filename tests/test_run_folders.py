"""One run folder, one loader: ``omnivec.load`` and every CLI command take a run of either family (OmniVec,
UnIVAL) or refuse it with one line; file paths work from Python; ``--device`` is checked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import omnivec
from data_helpers import real_root
from omnivec.api.train import train
from omnivec.cli import main
from omnivec.config import preset
from omnivec.errors import OmnivecError
from omnivec.families.registry import load_config
from omnivec.families.unival.config import unival_preset
from omnivec.families.unival.model import UnivalModel, save_unival
from omnivec.nn.model import OmniModel
from omnivec.runs import read_family
from omnivec.training import checkpoint as ckpt
from omnivec.training.device import resolve_device

TEXTS = ["a 7 at the top", "the digit seven spoken by jackson", "what does the image describe?"] * 5


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    cfg = preset("tiny")
    cfg.tasks = ["shapes", "tones"]
    cfg.train.max_steps, cfg.num_train, cfg.num_test = 2, 32, 16
    train(cfg, root / "omni", progress=False)
    torch.manual_seed(0)
    ucfg = unival_preset("tiny", num_bins=8)
    ucfg.tasks = ["caption_image"]
    save_unival(UnivalModel(ucfg.model, UnivalModel.train_tokenizer(TEXTS, 300, 8)), ucfg, root / "uni")
    Image.fromarray((np.random.default_rng(0).random((40, 40, 3)) * 255).astype("uint8")).save(root / "rgb.png")
    Image.fromarray((np.random.default_rng(1).random((24, 24)) * 255).astype("uint8")).save(root / "gray.png")
    return {"omni": root / "omni", "uni": root / "uni", "rgb": root / "rgb.png", "gray": root / "gray.png"}


def test_every_run_folder_says_its_family(runs: dict[str, Path]) -> None:
    assert read_family(runs["omni"]) == "omnivec" and read_family(runs["uni"]) == "unival"
    assert yaml.safe_load((runs["omni"] / ckpt.CONFIG).read_text())["family"] == "omnivec"


def test_a_folder_written_before_family_was_named_still_loads(runs: dict[str, Path], tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for f in runs["uni"].iterdir():
        (old / f.name).write_bytes(f.read_bytes())
    data = yaml.safe_load((old / ckpt.CONFIG).read_text())
    data["kind"] = data.pop("family")  # the pre-unification key
    (old / ckpt.CONFIG).write_text(yaml.safe_dump(data, sort_keys=False))
    assert isinstance(omnivec.load(old), UnivalModel)
    assert load_config(old).family == "unival"


def test_load_returns_the_right_model_with_one_api(runs: dict[str, Path]) -> None:
    omni, uni = omnivec.load(runs["omni"]), omnivec.load(runs["uni"])
    assert isinstance(omni, OmniModel) and isinstance(uni, UnivalModel)
    for model in (omni, uni):
        v = model.embed("image", [runs["rgb"], str(runs["gray"])])  # file paths, Path or str
        assert v.shape == (2, 64) and torch.isfinite(v).all()
    # a file is read the way its task was trained: 24 x 24 gray and 40 x 40 RGB both become the task's size
    labels = omni.predict("shapes", [runs["rgb"], runs["gray"]])
    assert all(label in omni.task("shapes").class_names for label in labels)
    assert omni.task("shapes").input_shape[1:] == [32, 32]
    answers = uni.predict("caption_image", [runs["gray"]])
    assert isinstance(answers[0], str)


def test_path_inputs_match_decoded_samples(runs: dict[str, Path]) -> None:
    from omnivec.data.readers.inputs import read_file

    omni = omnivec.load(runs["omni"])
    sample = read_file(runs["gray"], "image", omni.read_options("image", "shapes"))
    assert tuple(sample.shape) == (3, 32, 32)
    assert torch.equal(omni.embed("image", [sample]), omni.embed("image", [runs["gray"]]))


def test_a_missing_input_file_is_named(runs: dict[str, Path]) -> None:
    with pytest.raises(OmnivecError, match=r"nope\.png does not exist"):
        omnivec.load(runs["omni"]).embed("image", [runs["rgb"].parent / "nope.png"])


@pytest.mark.parametrize("family", ["omni", "uni"])
def test_commands_take_either_family(runs: dict[str, Path], family: str, tmp_path: Path, capsys, monkeypatch) -> None:
    run = str(runs[family])
    assert main(["info", run, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == {"omni": "omnivec", "uni": "unival"}[family] and info["parameters"] > 0
    out = tmp_path / "v.npz"
    assert main(["embed", run, "--modality", "image", "--input", str(runs["rgb"]), "--out", str(out)]) == 0
    assert np.load(out)["vectors"].shape == (1, 64) and list(np.load(out)["ids"]) == [runs["rgb"].name]
    task = "shapes" if family == "omni" else "caption"
    assert main(["predict", run, "--task", task, "--input", str(runs["rgb"]), "--device", "cpu"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert record["input"] == str(runs["rgb"])
    if family == "uni":  # its caption task is derived from MNIST
        monkeypatch.setenv("OMNIVEC_DATA", str(real_root()))
    assert main(["evaluate", run, "--json", "--limit", "4"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results) == ({"shapes", "tones"} if family == "omni" else {"caption_image"})
    assert all("metric" in r and "value" in r for r in results.values())


@pytest.mark.parametrize(
    ("argv", "run", "says"),
    [
        (["generate", "{run}", "--input", "x.png"], "omni", "generate .* needs a UnIVAL run"),
        (["unival", "evaluate", "{run}"], "omni", "needs a UnIVAL run"),
        (["unival", "finetune", "{run}", "--tasks", "caption_image", "--out", "{tmp}/o"], "omni", "not a UnIVAL"),
        (["train", "--out", "{run}", "--resume"], "uni", "is a UnIVAL run .*not an OmniVec run"),
        (["finetune", "{run}", "--tasks", "shapes", "--out", "{tmp}/o"], "uni", "not an OmniVec run"),
        (["evaluate", "{run}", "--data", "{tmp}"], "uni", "--data scores a classification head"),
        (["info", "{tmp}"], "omni", "t is not a run folder: it has no config.yaml"),
    ],
)
def test_the_other_family_is_refused_in_one_line(
    runs: dict[str, Path], argv: list[str], run: str, says: str, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / run  # a copy that looks resumable, so --resume reaches the family check
    folder.mkdir()
    for f in runs[run].iterdir():
        if f.is_file():  # the top-level files only: an old-style folder, resumable from its train_state.pt
            (folder / f.name).write_bytes(f.read_bytes())
    (folder / ckpt.TRAIN_STATE).touch()
    args = [a.format(run=folder, tmp=tmp_path / "t") for a in argv]
    (tmp_path / "t").mkdir()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert re.search(says, err), err


@pytest.mark.device
def test_device_is_checked() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(OmnivecError, match="not a device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(OmnivecError, match="no CUDA device"):
            resolve_device("cuda")


def test_merge_eval_scores_an_omnivec_run(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    run = str(runs["omni"])
    assert main(["merge", run, run, "--out", str(tmp_path / "m"), "--alpha", "0.5", "--eval", "shapes"]) == 0
    assert "shapes (accuracy)" in capsys.readouterr().out
    assert json.loads((tmp_path / "m" / "eval.json").read_text())["shapes"]["metric"] == "accuracy"
