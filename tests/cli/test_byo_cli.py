"""Bring-your-own data end to end through the CLI (in-process): train on a folder, evaluate, predict class
names back; corrupt files skipped and reported (or stopping the run under --strict); `omnivec data`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_helpers import real_root, sine, write_wav
from omnivec.api.load import load
from omnivec.cli import main
from omnivec.data.readers import ReadOptions, read_sample

CLASSES = ("left", "right", "top")
TINY = ["--preset", "tiny", "--batch-size", "8", "--lr", "3e-3", "--quiet", "--seed", "0"]


def _png(path: Path, cls: str, rng: np.random.Generator) -> None:
    img = (rng.random((32, 32)) * 60).astype(np.uint8)
    region = {"left": np.s_[:, :16], "right": np.s_[:, 16:], "top": np.s_[:16, :]}[cls]
    img[region] = 255 - img[region]
    Image.fromarray(img).save(path)


def image_folder(root: Path, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for c in CLASSES:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            _png(root / c / f"{i}.png", c, rng)
    return root


def audio_folder(root: Path, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for c, hz in (("low", 300.0), ("high", 1800.0)):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            wave = sine(hz * rng.uniform(0.9, 1.1), 8000, 0.3) + rng.normal(0, 0.02, 2400).astype(np.float32)
            write_wav(root / c / f"{i}.wav", np.clip(wave, -1, 1), 8000)
    return root


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_byo_images_train_evaluate_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = image_folder(tmp_path / "glyphs", 8, 0)
    val = image_folder(tmp_path / "val", 4, 1)
    run = tmp_path / "run"
    rc, out, _ = _run(
        ["train", *TINY, "--train", str(train), "--val", str(val), "--max-steps", "30", "--out", str(run)],
        capsys,
    )
    assert rc == 0 and "glyphs" in out
    rc, out, _ = _run(["evaluate", str(run), "--data", str(val), "--json"], capsys)
    res = json.loads(out)["glyphs"]
    assert rc == 0 and res["count"] == 12
    assert res["skipped"] == 0 and res["value"] >= 0.75  # chance is 1/3
    model = load(run)
    assert list(model.task("glyphs").class_names) == list(CLASSES)
    opts = ReadOptions(image_size=32)
    samples = [read_sample(val / c / "0.png", "image", opts) for c in CLASSES]
    preds = model.predict("glyphs", samples)
    assert all(isinstance(p, str) and p in CLASSES for p in preds)
    assert sum(p == c for p, c in zip(preds, CLASSES)) >= 2


@pytest.mark.slow
def test_byo_audio_with_holdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = audio_folder(tmp_path / "pitch", 10, 0)
    run = tmp_path / "run"
    rc, _, _ = _run(["train", *TINY, "--train", str(train), "--max-steps", "30", "--out", str(run)], capsys)
    assert rc == 0
    res = json.loads((run / "eval.json").read_text())["pitch"]
    assert res["modality"] == "audio" and res["count"] == 2  # the seeded 10% holdout: one file per class
    model = load(run)
    assert list(model.task("pitch").class_names) == ["high", "low"]
    rc, out, _ = _run(["evaluate", str(run), "--data", str(train), "--json"], capsys)
    res = json.loads(out)["pitch"]
    assert rc == 0 and res["value"] >= 0.8  # two tones an octave and more apart


def _corrupt(folder: Path) -> dict[str, str]:
    bad = {
        "zero": folder / "left" / "empty.png",
        "garbage": folder / "right" / "noise.png",
    }
    bad["zero"].write_bytes(b"")
    bad["garbage"].write_bytes(np.random.default_rng(0).bytes(300))
    return {k: str(v) for k, v in bad.items()}


@pytest.mark.slow
def test_corrupt_files_are_skipped_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = image_folder(tmp_path / "glyphs", 6, 0)
    val = image_folder(tmp_path / "val", 2, 1)
    bad = _corrupt(train)
    wav_dir = audio_folder(tmp_path / "pitch", 5, 0)
    good = (wav_dir / "low" / "0.wav").read_bytes()
    (wav_dir / "low" / "cut.wav").write_bytes(good[:30])  # truncated inside the header
    run = tmp_path / "run"
    rc, _, _ = _run(
        ["train", *TINY, "--train", str(train), "--val", str(val), "--max-steps", "6", "--out", str(run)],
        capsys,
    )
    assert rc == 0
    rows = [json.loads(line) for line in (run / "skipped.jsonl").read_text().splitlines()]
    reasons = {r["path"]: r["reason"] for r in rows}
    assert set(reasons) == set(bad.values()) and all(reasons.values())
    # evaluation counts skipped files too
    _corrupt(val)
    rc, out, _ = _run(["evaluate", str(run), "--data", str(val), "--json"], capsys)
    assert rc == 0 and json.loads(out)["glyphs"]["skipped"] == 2
    # the truncated WAV is reported by `data check PATH`
    rc, out, _ = _run(["data", "check", str(wav_dir)], capsys)
    assert rc == 1 and "cut.wav" in out


def test_strict_stops_with_path_and_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = image_folder(tmp_path / "glyphs", 4, 0)
    val = image_folder(tmp_path / "val", 1, 1)
    bad = _corrupt(train)
    rc, _, err = _run(
        [
            "train",
            *TINY,
            "--train",
            str(train),
            "--val",
            str(val),
            "--max-steps",
            "6",
            "--strict",
            "--out",
            str(tmp_path / "run"),
        ],
        capsys,
    )
    assert rc != 0 and any(p in err for p in bad.values())
    assert "omnivec train: error" in err


def test_bad_byo_path_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["train", *TINY, "--train", str(tmp_path / "nope"), "--out", str(tmp_path / "r")], capsys)
    assert rc == 2 and "no such folder" in err


@pytest.mark.realdata
def test_data_list_and_check_on_staged_data(capsys: pytest.CaptureFixture[str]) -> None:
    root = str(real_root())
    rc, out, _ = _run(["data", "list", "--data-root", root, "--json"], capsys)
    listing = json.loads(out)
    assert rc == 0 and all(listing["datasets"][n] for n in ("mnist", "fsdd", "banking77"))
    rc, out, _ = _run(["data", "check", "--data-root", root, "mnist", "banking77"], capsys)
    assert rc == 0 and out.count("all OK") == 2


@pytest.mark.realdata
def test_data_check_names_a_corrupted_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(real_root() / "banking77", tmp_path / "banking77")
    target = tmp_path / "banking77" / "test.csv"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    rc, out, _ = _run(["data", "check", "--data-root", str(tmp_path), "banking77"], capsys)
    assert rc == 1 and str(target) in out and "sha256" in out


def test_byo_task_names(tmp_path: Path) -> None:
    """A split folder is named after its dataset; names that would shadow a module attribute are refused."""
    from omnivec.config import TaskConfig, preset
    from omnivec.data.byo import byo_name
    from omnivec.errors import OmnivecError
    from omnivec.nn.model import OmniModel

    for sub in ("My Digits/train", "My Digits/val", "cats.v2"):
        (tmp_path / sub).mkdir(parents=True)
    assert byo_name(str(tmp_path / "My Digits" / "train")) == "my-digits"
    assert byo_name(str(tmp_path / "My Digits" / "val")) == "my-digits"
    assert byo_name(str(tmp_path / "cats.v2")) == "cats-v2"
    model = OmniModel(preset("tiny").model)
    with pytest.raises(OmnivecError, match="reserved"):
        model.add_task(TaskConfig(name="train", kind="classification", modality="image", num_classes=2))
