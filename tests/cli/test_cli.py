"""End to end through the CLI: train tiny on built-in data, save, evaluate, embed, info; clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from omnivec.cli import main
from omnivec.training import checkpoint as ckpt


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    rc = main(
        [
            "train",
            "--preset",
            "tiny",
            "--tasks",
            "shapes,scenes,tones,topics,solids,motion",
            "--out",
            str(out),
            "--max-steps",
            "4",
            "--num-train",
            "64",
            "--num-test",
            "32",
            "--quiet",
            "--batch-size",
            "8",
        ]
    )
    assert rc == 0
    return out


def test_train_writes_a_complete_run_folder(run_dir: Path) -> None:
    names = {p.name for p in run_dir.iterdir()}
    assert {
        ckpt.CONFIG,
        ckpt.WEIGHTS,
        ckpt.TOKENIZER,
        ckpt.TRAIN_STATE,
        ckpt.METRICS,
        "loss.png",
        "eval.json",
    } <= names
    log = [json.loads(line) for line in (run_dir / ckpt.METRICS).read_text().splitlines()]
    assert log[-1]["step"] == 4 and "samples_per_s" in log[-1] and "shapes/loss" in log[-1]


def test_evaluate_json(run_dir: Path, capsys) -> None:
    assert main(["evaluate", str(run_dir), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results) == {"shapes", "scenes", "tones", "topics", "solids", "motion"}
    assert results["scenes"]["metric"] == "miou" and 0 <= results["scenes"]["value"] <= 1
    assert results["shapes"]["count"] == 32


def test_embed_writes_vectors(run_dir: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("weather is sunny\nthe match was won\n")
    clouds = [tmp_path / f"c{i}.npy" for i in range(2)]
    for i, p in enumerate(clouds):
        np.save(p, np.random.default_rng(i).normal(size=(200, 3)).astype("float32"))
    out = tmp_path / "v.npz"
    assert main(["embed", str(run_dir), "--modality", "text", "--input", str(texts), "--out", str(out)]) == 0
    assert np.load(out)["vectors"].shape == (2, 64)
    assert list(np.load(out)["ids"]) == ["texts.txt:1", "texts.txt:2"]
    assert main(["embed", str(run_dir), "--modality", "points", "--input", *map(str, clouds), "--out", str(out)]) == 0
    assert np.load(out)["vectors"].shape == (2, 64) and list(np.load(out)["ids"]) == ["c0.npy", "c1.npy"]


def test_info(run_dir: Path, capsys) -> None:
    assert main(["info", str(run_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["step"] == 4 and info["tasks"]["scenes"]["kind"] == "segmentation"


def test_resume_continues_to_more_steps(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    assert main(["train", "--out", str(copy), "--resume", "--max-steps", "6", "--quiet"]) == 0
    log = [json.loads(line) for line in (copy / ckpt.METRICS).read_text().splitlines()]
    assert log[-1]["step"] == 6


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--preset", "huge", "--tasks", "shapes", "--out", "X"], "unknown preset 'huge'"),
        (["train", "--preset", "tiny", "--tasks", "nosuch", "--out", "X"], "unknown task 'nosuch'"),
        (["train", "--preset", "tiny", "--set", "train.lrr=1", "--out", "X"], "no field 'train.lrr'"),
        (["train", "--preset", "tiny", "--set", "model.depth=two", "--out", "X"], "model.depth: expected int"),
        (["evaluate", "/no/such/run"], "does not exist"),
        (["info", "/no/such/run"], "does not exist"),
    ],
)
def test_errors_are_one_clear_line(argv: list[str], message: str, capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_embed_missing_file_is_clear(run_dir: Path, capsys) -> None:
    assert main(["embed", str(run_dir), "--modality", "image", "--input", "/no/such.png", "--out", "/tmp/x.npz"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_set_overrides_reach_the_saved_config(tmp_path: Path) -> None:
    from omnivec.config import RunConfig, load_yaml

    run = tmp_path / "r"
    argv = ["train", "--preset", "tiny", "--tasks", "shapes", "--num-train", "16", "--num-test", "8"]
    argv += ["--max-steps", "2", "--quiet", "--out", str(run)]
    argv += ["--set", "model.encoders.image.stem=hmlp", "--set", "train.lr=3e-3", "--set", "model.augment=false"]
    assert main(argv) == 0
    cfg = load_yaml(RunConfig, run / "config.yaml")
    assert cfg.model.encoders["image"].stem == "hmlp" and cfg.train.lr == 3e-3 and cfg.model.augment is False


def test_tasks_of_a_family_from_a_fresh_process() -> None:
    # a fresh interpreter: no other test has imported (and so registered) the UnIVAL tasks
    import subprocess
    import sys

    argv = [sys.executable, "-m", "omnivec", "tasks", "--family", "unival", "--json"]
    rows = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    assert {"caption_image", "grounding_image", "summarize_text"} <= {r["name"] for r in rows}
    assert {r["family"] for r in rows} == {"unival"}


def test_family_choices_come_from_the_registry(capsys) -> None:
    from omnivec.families.registry import FAMILIES

    with pytest.raises(SystemExit):
        main(["tasks", "--family", "nope"])
    err = capsys.readouterr().err
    assert all(repr(name) in err for name in FAMILIES.names())
