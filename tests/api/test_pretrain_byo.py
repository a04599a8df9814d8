"""Masked pretraining on the user's own files (``omnivec pretrain --train DIR``): every modality, flat folders
and class subfolders, two folders (two modalities) in one run, resume, fine-tuning from the run folder, and the
refusals that leave nothing behind."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_helpers import sine, write_mp4, write_wav
from omnivec.api.load import load
from omnivec.api.train import prepare_tasks
from omnivec.cli import build_parser, main
from omnivec.data.byo import from_folder, from_manifest, load_byo
from omnivec.errors import DataError
from omnivec.runs import load_run

TINY = ["--preset", "tiny", "--batch-size", "4", "--quiet", "--seed", "0", "--log-every", "1"]
WORDS = ("zebra", "quartz", "violin", "meadow", "lantern", "harbor")


# ---------------------------------------------------------------------------------------------- file writers


def _png(path: Path, rng: np.random.Generator) -> None:
    Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8)).save(path)


def _wav(path: Path, rng: np.random.Generator) -> None:
    write_wav(path, sine(rng.uniform(200, 1500), 8000, 0.3) + rng.normal(0, 0.01, 2400).astype(np.float32), 8000)


def _mp4(path: Path, rng: np.random.Generator) -> None:
    write_mp4(path, (rng.random((8, 32, 32, 3)) * 255).astype(np.uint8))


def _txt(path: Path, rng: np.random.Generator) -> None:
    path.write_text(" ".join(rng.choice(WORDS, 8)) + ".\n")


def _npy(path: Path, rng: np.random.Generator) -> None:
    np.save(path, rng.normal(size=(64, 3)).astype(np.float32))


def _ply(path: Path, rng: np.random.Generator) -> None:
    pts = rng.normal(size=(40, 3))
    head = f"ply\nformat ascii 1.0\nelement vertex {len(pts)}\nproperty float x\nproperty float y\nproperty float z\n"
    path.write_text(head + "end_header\n" + "".join(f"{x:.4f} {y:.4f} {z:.4f}\n" for x, y, z in pts))


def _xyz_txt(path: Path, rng: np.random.Generator) -> None:  # a .txt that only --modality points reads as points
    path.write_text("".join(f"{x:.4f} {y:.4f} {z:.4f}\n" for x, y, z in rng.normal(size=(40, 3))))


Writer = Callable[[Path, np.random.Generator], None]
# name -> (extension, writer, modality it must be read as, --modality to pass)
KINDS: dict[str, tuple[str, Writer, str, str]] = {
    "image": (".png", _png, "image", ""),
    "audio": (".wav", _wav, "audio", ""),
    "video": (".mp4", _mp4, "video", ""),
    "text": (".txt", _txt, "text", ""),
    "points-npy": (".npy", _npy, "points", ""),
    "points-ply": (".ply", _ply, "points", ""),
    "points-txt": (".txt", _xyz_txt, "points", "points"),
}


def write_folder(root: Path, kind: str, classes: tuple[str, ...] = (), per_class: int = 4, seed: int = 0) -> Path:
    """``per_class`` files of ``kind`` in each of ``classes`` (subfolders), or flat in ``root`` without classes."""
    ext, writer, _, _ = KINDS[kind]
    rng = np.random.default_rng(seed)
    for c in classes or ("",):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            writer(root / c / f"{i}{ext}", rng)
    return root


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------------------------------------- the byo layer


def test_a_flat_folder_is_one_unlabelled_set_only_when_labels_are_optional(tmp_path: Path) -> None:
    flat = write_folder(tmp_path / "flat", "image", per_class=3)
    with pytest.raises(DataError, match="no class subfolders"):  # the labelled path is unchanged
        from_folder(flat)
    ds = from_folder(flat, require_labels=False)
    assert (len(ds), ds.class_names, ds.labelled, set(ds.targets), ds.modality) == (3, [], False, {0}, "image")
    labelled = write_folder(tmp_path / "lab", "image", ("cat", "dog"), per_class=2)
    ds = from_folder(labelled, require_labels=False)
    assert ds.class_names == ["cat", "dog"] and ds.labelled and ds.targets == [0, 0, 1, 1]
    # files beside a subfolder: the whole tree is one unlabelled set, nothing dropped
    write_folder(flat / "more", "image", per_class=2, seed=1)
    ds = from_folder(flat, require_labels=False)
    assert len(ds) == 5 and not ds.labelled


def test_a_manifest_without_labels_is_unlabelled_when_labels_are_optional(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("text\nzebra quartz\nviolin meadow\n")
    with pytest.raises(DataError, match="no label column"):
        from_manifest(tmp_path / "m.csv")
    ds = load_byo(tmp_path / "m.csv", require_labels=False)
    assert (len(ds), ds.class_names, ds.modality, ds[1]) == (2, [], "text", ("violin meadow", 0))


# ---------------------------------------------------------------------------------------------- every modality


@pytest.mark.parametrize("labelled", [False, True], ids=["flat", "classes"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_pretrain_on_a_folder_of_every_modality(
    kind: str, labelled: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    classes = ("cat", "dog") if labelled else ()
    data = write_folder(tmp_path / "mine", kind, classes, per_class=4 if labelled else 6)
    _, _, modality, force = KINDS[kind]
    run = tmp_path / "run"
    extra = ["--modality", force] if force else []
    rc, out, err = _run(["pretrain", *TINY, "--train", str(data), *extra, "--steps", "2", "--out", str(run)], capsys)
    assert rc == 0, err
    assert "pretrained 2 steps" in out
    log = _log(run)
    assert [r["tasks"] for r in log] == ["mine", "mine"] and all(math.isfinite(r["mine/loss"]) for r in log)
    model, cfg = load_run(run)
    assert cfg.byo["mine"]["labels"] == "optional" and cfg.byo["mine"]["modality"] == force
    # the prepared task: unlabelled (class_names == []) for a flat folder, its classes kept otherwise
    task = prepare_tasks(cfg, ["mine"])["mine"]
    assert task.cfg.modality == modality and task.cfg.class_names == list(classes)
    assert len(task.splits.train) == 6 and len(task.splits.test) == (2 if labelled else 0)
    if modality == "text":  # the tokenizer learnt the folder's words
        assert model.tokenizer is not None and all(len(model.tokenizer.encode(w)) == 1 for w in WORDS)


# ---------------------------------------------------------------------------------------------- several folders


def test_two_folders_resume_and_finetune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = write_folder(tmp_path / "photos", "image", per_class=6)
    notes = write_folder(tmp_path / "notes", "text", ("a", "b"), per_class=4, seed=1)
    run = tmp_path / "pt"
    argv = ["pretrain", *TINY, "--train", str(photos), "--train", str(notes), "--out", str(run)]
    rc, _, err = _run([*argv, "--steps", "2", "--set", "train.lr=0.004"], capsys)
    assert rc == 0, err
    log = _log(run)
    assert [r["tasks"] for r in log] == ["photos,notes"] * 2  # both streams in every step
    assert {"photos/loss", "notes/loss"} <= set(log[0])
    assert load_run(run)[1].train.lr == 0.004
    # --resume continues to more steps with the saved folders; a changed setting is refused
    rc, _, err = _run(["pretrain", "--resume", "--train", str(photos), "--out", str(run)], capsys)
    assert rc == 2 and "--train cannot change on resume" in err
    rc, out, err = _run(["pretrain", "--resume", "--quiet", "--steps", "3", "--out", str(run)], capsys)
    assert rc == 0 and "pretrained 3 steps" in out, err
    assert [r["step"] for r in _log(run)] == [1, 2, 3] and set(_log(run)[-1]) >= {"photos/loss", "notes/loss"}
    # fine-tune the pretrained trunk on a labelled text folder: the pretraining tokenizer reads it
    labelled = write_folder(tmp_path / "reviews", "text", ("a", "b"), per_class=5, seed=2)
    ft = tmp_path / "ft"
    rc, out, err = _run(
        ["finetune", str(run), *TINY, "--train", str(labelled), "--steps", "2", "--train-limit", "7", "--out", str(ft)],
        capsys,
    )
    assert rc == 0, err
    ev = json.loads((ft / "eval.json").read_text())
    assert list(ev) == ["reviews"] and ev["reviews"]["count"] == 2  # the seeded holdout: one file per class
    _, cfg = load_run(ft)
    assert cfg.train_limit == 7 and list(cfg.byo) == ["reviews"]  # the pretraining folders are not its tasks
    assert (ft / "tokenizer.json").read_text() == (run / "tokenizer.json").read_text()
    assert load(ft).predict("reviews", ["zebra quartz violin"])[0] in ("a", "b")


def test_same_folder_names_get_distinct_streams_and_catalogue_tasks_join(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_folder(tmp_path / "a" / "clips", "audio", per_class=4)
    b = write_folder(tmp_path / "b" / "clips", "points-npy", per_class=4)
    run = tmp_path / "run"
    argv = ["pretrain", *TINY, "--tasks", "shapes", "--num-train", "8", "--train", str(a), "--train", str(b)]
    rc, _, err = _run([*argv, "--steps", "2", "--out", str(run)], capsys)
    assert rc == 0, err
    assert _log(run)[0]["tasks"] == "shapes,clips,clips-2"
    rc, _, err = _run(["pretrain", *TINY, "--train", str(a), "--train", str(a), "--out", str(tmp_path / "x")], capsys)
    assert rc == 2 and "given twice" in err and not (tmp_path / "x").exists()


def test_unreadable_files_are_skipped_and_counted_or_stop_under_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_folder(tmp_path / "photos", "image", per_class=5)
    (data / "broken.png").write_bytes(b"not a png")
    run = tmp_path / "run"
    rc, out, err = _run(["pretrain", *TINY, "--train", str(data), "--steps", "3", "--out", str(run)], capsys)
    assert rc == 0, err
    assert "skipped 1 unreadable file(s)" in out
    assert [json.loads(r)["path"] for r in (run / "skipped.jsonl").read_text().splitlines()] == [
        str(data / "broken.png")
    ]
    rc, _, err = _run(
        ["pretrain", *TINY, "--train", str(data), "--steps", "3", "--strict", "--out", str(tmp_path / "s")], capsys
    )
    assert rc == 2 and "broken.png" in err


# ---------------------------------------------------------------------------------------------- refusals


def _empty(root: Path) -> Path:
    root.mkdir()
    return root


def _unknown(root: Path) -> Path:
    root.mkdir()
    for i in range(3):
        (root / f"{i}.bin").write_bytes(b"\0" * 10)
    return root


def _mixed(root: Path) -> Path:
    write_folder(root, "image", per_class=2)
    write_folder(root, "audio", per_class=2)
    return root


def _corrupt(root: Path) -> Path:
    root.mkdir()
    for i in range(3):
        (root / f"{i}.png").write_bytes(b"not an image")
    return root


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda r: r, "no such folder or manifest"),
        (_empty, "empty folder (expected files of one modality"),
        (_unknown, "no readable files found; known extensions"),
        (_mixed, "one modality per folder, found 2 image"),
        (_corrupt, "none of its 3 file(s) reads as image"),
    ],
    ids=["missing", "empty", "unknown", "mixed", "corrupt"],
)
def test_a_bad_folder_is_one_line_naming_it_and_writes_nothing(
    make: Callable[[Path], Path], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make(tmp_path / "mine")
    run = tmp_path / "run"
    rc, out, err = _run(["pretrain", *TINY, "--train", str(folder), "--steps", "2", "--out", str(run)], capsys)
    assert rc == 2 and says in err and str(folder) in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not run.exists()


def test_no_data_and_model_overrides_on_a_start_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["pretrain", *TINY, "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and "--tasks" in err and "--train DIR" in err
    rc, _, err = _run(["finetune", "runs/pt", "--tasks", "shapes", "--set", "model.depth=1", "--out", "o"], capsys)
    assert rc == 2 and "--set model.*" in err and not (tmp_path / "run").exists()


def test_pretrain_and_finetune_default_to_the_cpu_preset_and_take_the_data_flags() -> None:
    from omnivec.cli.common import build_run_config

    common = ["--train-limit", "5", "--test-limit", "3", "--strict", "--set", "num_test=7", "--out", "o"]
    for head in (["pretrain", "--train", "d"], ["finetune", "scratch", "--tasks", "shapes"]):
        cfg = build_run_config(build_parser().parse_args([*head, *common]))
        assert cfg.preset == "cpu" and cfg.train.max_steps == 1500
        assert (cfg.train_limit, cfg.test_limit, cfg.strict, cfg.num_test) == (5, 3, True, 7)
