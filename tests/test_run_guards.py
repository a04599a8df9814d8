"""Runs remember what they were trained on, and a refused or failed command says so in one line (issue 25).

- classes: a class folder added to a bring-your-own dataset is refused by ``evaluate``, ``train --resume`` and
  ``finetune --resume``, naming the run, its classes and the data's (it used to score 0.000 / die of IndexError);
- merge: runs with different tokenizers or class lists are refused, naming both; killed at any write, merge
  leaves no half run folder; ``atomic_folder`` puts back a folder caught between the renames of a swap;
- weights: an int32 tensor where a float weight belongs is refused, naming the key;
- text: ``predict`` refuses a whitespace-only file as ``embed`` does; a UTF-8 byte-order mark changes nothing;
- ``search --k`` takes integers >= 1; PLY/OFF headers and face indices that crashed the reader are DataErrors;
- a real full disk (a 1-4 MiB tmpfs, where this process may mount one) is one line saying "disk full".
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file, save_file

from crafted_files import POINT_FILES, write_point_file
from omnivec.cli import main
from omnivec.errors import OmnivecError
from omnivec.training import checkpoint as ckpt

REPO = Path(__file__).resolve().parents[1]
TINY = ["--preset", "tiny", "--batch-size", "4", "--max-steps", "2", "--quiet", "--seed", "0"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status and the stderr of an in-process command (argparse errors included)."""
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    return rc, capsys.readouterr().err


def _one_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def tree_hash(folder: Path, ignore: tuple[str, ...] = (".lock",)) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.name not in ignore
    }


def image_folder(root: Path, classes: tuple[str, ...], per_class: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).save(root / c / f"{i}.png")
    return root


def _copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, ignore=shutil.ignore_patterns(".lock"))
    return to


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run with an image (shapes) and a text (topics) classification task."""
    out = tmp_path_factory.mktemp("guards") / "run"
    assert (
        main(["train", *TINY, "--tasks", "shapes,topics", "--num-train", "16", "--num-test", "8", "--out", str(out)])
        == 0
    )
    return out


# ----------------------------------------------------------------------------------------------- classes


def test_a_class_added_to_the_data_is_refused_by_evaluate_and_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = image_folder(tmp_path / "glyphs", ("left", "right", "top"))
    run, ft = tmp_path / "run", tmp_path / "ft"
    assert main(["train", *TINY, "--train", str(data), "--out", str(run)]) == 0
    ft_flags = ["--preset", "tiny", "--batch-size", "4", "--steps", "2", "--quiet", "--seed", "0"]
    assert main(["finetune", "scratch", *ft_flags, "--train", str(data), "--out", str(ft)]) == 0
    capsys.readouterr()
    image_folder(data, ("mid",))  # sorts between left and right: every index from right on shifts
    before = {f: tree_hash(f) for f in (run, ft)}
    for argv in (
        ["evaluate", str(run)],
        ["train", "--resume", "--max-steps", "4", "--quiet", "--out", str(run)],
        ["finetune", "scratch", "--resume", "--quiet", "--out", str(ft)],
    ):
        rc, err = _run(argv, capsys)
        line = _one_error(err)
        assert rc == 2, (argv, err)
        folder = ft if "finetune" in argv else run
        assert f"{folder} was trained on 3 classes for task 'glyphs' [left, right, top]" in line, line
        assert f"{data} has 4 [left, mid, right, top] (new [mid])" in line, line
    assert {f: tree_hash(f) for f in (run, ft)} == before, "a refused command changed a run folder"
    shutil.rmtree(data / "mid")
    rc, err = _run(["evaluate", str(run)], capsys)
    assert rc == 0, err


def test_check_classes_names_order_and_skips_runs_without_names() -> None:
    from omnivec.config import TaskConfig
    from omnivec.runs import check_classes

    task = TaskConfig("t", "classification", "image", num_classes=2, class_names=["a", "b"])
    check_classes("R", task, ["a", "b"], "D")
    with pytest.raises(
        OmnivecError,
        match=r"R was trained on 2 classes .* \[a, b\], but D has 2 \[b, a\] \(the same names in another order\)",
    ):
        check_classes("R", task, ["b", "a"], "D")
    check_classes("R", TaskConfig("t", "classification", "image", num_classes=2), ["x", "y"], "D")  # older runs


def test_evaluate_data_with_an_unknown_class_names_the_run(
    text_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = image_folder(tmp_path / "eval", ("circle", "blob"))
    rc, err = _run(["evaluate", str(text_run), "--tasks", "shapes", "--data", str(data)], capsys)
    line = _one_error(err)
    assert rc == 2 and str(text_run) in line and "never saw: ['blob']" in line, line


# ----------------------------------------------------------------------------------------------- merge


def test_merge_refuses_other_tokenizers_and_class_lists(
    text_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from omnivec.nn.tokenizer import TextTokenizer

    own = TextTokenizer.load(text_run / ckpt.TOKENIZER)
    other = _copy_run(text_run, tmp_path / "other")
    corpus = [f"{w} {v} number {i}" for i in range(200) for w, v in (("zebra", "quartz"), ("xylophone", "jam"))]
    TextTokenizer.train(corpus, own.vocab_size).save(other / ckpt.TOKENIZER)
    assert TextTokenizer.load(other / ckpt.TOKENIZER).fingerprint() != own.fingerprint()
    rc, err = _run(["merge", str(text_run), str(other), "--out", str(tmp_path / "m")], capsys)
    line = _one_error(err)
    assert rc == 2 and f"{other} and {text_run} have different tokenizers" in line, line

    swapped = _copy_run(text_run, tmp_path / "swapped")
    cfg = yaml.safe_load((swapped / ckpt.CONFIG).read_text())
    task = next(t for t in cfg["model"]["tasks"] if t["name"] == "shapes")
    names = task["class_names"]
    task["class_names"] = [names[1], names[0], *names[2:]]
    (swapped / ckpt.CONFIG).write_text(yaml.safe_dump(cfg))
    rc, err = _run(["merge", str(text_run), str(swapped), "--out", str(tmp_path / "m")], capsys)
    line = _one_error(err)
    assert rc == 2 and f"{swapped} and {text_run} were trained on different classes for task 'shapes'" in line
    assert str(task["class_names"]) in line and str(names) in line, line
    assert not (tmp_path / "m").exists()


def test_a_tokenizer_fingerprint_ignores_only_runtime_settings(text_run: Path, tmp_path: Path) -> None:
    from omnivec.nn.tokenizer import TextTokenizer, file_fingerprint

    path = text_run / ckpt.TOKENIZER
    assert file_fingerprint(path) == TextTokenizer.load(path).fingerprint()
    spec = json.loads(path.read_text())
    spec["truncation"] = {"max_length": 7, "strategy": "LongestFirst", "stride": 0, "direction": "Right"}
    (tmp_path / "a.json").write_text(json.dumps(spec))
    assert file_fingerprint(tmp_path / "a.json") == file_fingerprint(path)
    spec["added_tokens"] = spec["added_tokens"][:-1]
    (tmp_path / "b.json").write_text(json.dumps(spec))
    assert file_fingerprint(tmp_path / "b.json") != file_fingerprint(path)


# ----------------------------------------------------------------------------------------------- weights


def test_an_int32_tensor_for_a_float_weight_is_refused(
    text_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from omnivec.api.merge import check_compatible

    run = _copy_run(text_run, tmp_path / "run")
    weights = load_file(run / ckpt.WEIGHTS)
    key = next(k for k, v in weights.items() if v.is_floating_point())
    bad = {**weights, key: weights[key].to(torch.int32)}
    save_file(bad, str(run / ckpt.WEIGHTS))
    (tmp_path / "t.txt").write_text("a red cat\n")
    argv = [
        "embed",
        str(run),
        "--modality",
        "text",
        "--input",
        str(tmp_path / "t.txt"),
        "--out",
        str(tmp_path / "v.npz"),
    ]
    rc, err = _run(argv, capsys)
    line = _one_error(err)
    assert rc == 2 and f"dtype mismatch ['{key} torch.int32 != torch.float32']" in line, line
    with pytest.raises(OmnivecError, match=f"different dtypes .*{key}: torch.float32 vs torch.int32"):
        check_compatible([weights, bad], ["a", "b"])


# ----------------------------------------------------------------------------------------------- text


def test_predict_refuses_whitespace_and_a_byte_order_mark_changes_nothing(
    text_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from omnivec.api.embed import embed_inputs
    from omnivec.api.load import load
    from omnivec.api.predict import predict_files

    blank = tmp_path / "blank.txt"
    blank.write_text("  \n\t \n")
    rc, err = _run(["predict", str(text_run), "--task", "topics", "--input", str(blank)], capsys)
    assert rc == 2 and "blank.txt: only whitespace" in _one_error(err)

    plain, marked = tmp_path / "plain.txt", tmp_path / "marked.txt"
    plain.write_text("the stock market fell\n")
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    model = load(text_run, "cpu")
    a, b = (embed_inputs(model, "text", [p]).vectors for p in (plain, marked))
    assert np.array_equal(a, b)
    pa, pb = (predict_files(text_run, "topics", [p], "cpu")[0]["prediction"] for p in (plain, marked))
    assert pa == pb
    assert torch.equal(model.embed("text", [plain]), model.embed("text", [marked]))


# ----------------------------------------------------------------------------------------------- search


@pytest.mark.parametrize("k", ["0", "-3", "1.5"])
def test_search_k_must_be_at_least_one(k: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _run(["search", str(tmp_path / "index.npz"), "--query", "x", "--k", k], capsys)
    assert rc == 2 and "--k" in _one_error(err) and "integer >= 1" in err


def test_index_neighbours_refuses_k_below_one() -> None:
    from omnivec.api.embed import Embeddings
    from omnivec.api.search import Index, make_backend

    vectors = np.random.default_rng(0).standard_normal((24, 8)).astype(np.float32)
    emb = Embeddings(vectors, [str(i) for i in range(24)], [""] * 24, [""] * 24, "image", "trunk", "")
    index = Index(emb, make_backend(vectors, "exact"))
    assert len(index.neighbours(vectors[:1], 3)[0]) == 3
    for k in (0, -3):
        with pytest.raises(OmnivecError, match="integer >= 1"):
            index.neighbours(vectors[:1], k)


# ----------------------------------------------------------------------------------------------- point files


@pytest.mark.parametrize("name", list(POINT_FILES))
def test_crafted_point_files_are_a_named_data_error(name: str, tmp_path: Path) -> None:
    from omnivec.data.readers.points import read_points
    from omnivec.errors import DataError

    content, says = POINT_FILES[name]
    with pytest.raises(DataError, match=says):
        read_points(write_point_file(tmp_path / name, content), 16)


# -------------------------------------------------------------------------------- atomic writes, a full disk


@pytest.mark.slow
def test_merge_killed_at_any_write_leaves_no_half_run_folder(text_run: Path, tmp_path: Path) -> None:
    """The merged folder is filled as a hidden sibling and renamed at the end: killed after any write (the
    config, the tokenizer, the weights, merge.json), no OUT exists, and the next merge cleans the sibling."""
    out, log = tmp_path / "merged", tmp_path / "writes.log"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMNIVEC_WRITE_LOG": str(log)}
    argv = [sys.executable, "-m", "omnivec", "merge", str(text_run), str(text_run), "--alpha", "0.5", "--out", str(out)]
    assert subprocess.run(argv, env=env, capture_output=True).returncode == 0
    writes = log.read_text().splitlines()
    assert writes[-1].endswith(f"\t{out}") and len(writes) >= 5, writes  # the rename is the last write
    shutil.rmtree(out)
    for k in range(1, len(writes)):
        env["OMNIVEC_CRASH_AFTER_WRITE"] = str(k)
        assert subprocess.run(argv, env=env, capture_output=True).returncode == 86
        assert not out.exists(), f"a half run folder after write {k}: {writes[k - 1]}"
    env.pop("OMNIVEC_CRASH_AFTER_WRITE")
    assert subprocess.run(argv, env=env, capture_output=True).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged", "writes.log"]  # no .merged.tmp left
    assert load_file(out / ckpt.WEIGHTS).keys() == load_file(text_run / ckpt.WEIGHTS).keys()


def test_atomic_folder_replaces_only_when_complete_and_restores_a_swap_cut_short(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")

    def fail(folder: Path) -> None:
        (folder / "new.txt").write_text("new")
        raise OSError(5, "I/O error")

    with pytest.raises(OSError):
        ckpt.atomic_folder(out, fail, replace=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (out / "old.txt").read_text() == "old"
    with pytest.raises(OmnivecError, match="not empty"):
        ckpt.atomic_folder(out, lambda f: None)
    # killed between the two renames of a swap: the old folder sits at .out.old.tmp and out is gone
    os.replace(out, tmp_path / ".out.old.tmp")
    ckpt.atomic_folder(out, lambda f: (f / "new.txt").write_text("new"), replace=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (out / "new.txt").read_text() == "new"


@contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``where``; skips, saying why, where this process may not mount."""
    where.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (a real full disk cannot be made otherwise)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_real_full_disk_is_one_line_saying_disk_full(
    text_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_disk(tmp_path / "disk", "1m") as disk:
        big = {"w": torch.zeros(600_000)}  # 2.4 MB
        for write in (
            lambda: ckpt.save_weights(big, disk / "w.safetensors"),  # safetensors: SafetensorError
            lambda: ckpt.save_state(big, disk / "s.pt"),  # torch.save: RuntimeError "unexpected pos"
            lambda: ckpt.atomic_write_text(disk / "t.txt", "x" * 2_000_000),  # OSError without a filename
        ):
            with pytest.raises(OmnivecError, match=f"{disk}/.*: disk full"):
                write()
            assert list(disk.iterdir()) == [], "a failed write left a temporary file"
        out = disk / "merged"
        rc, err = _run(["merge", str(text_run), str(text_run), "--alpha", "0.5", "--out", str(out)], capsys)
        line = _one_error(err)
        assert rc == 2 and f"{disk}/" in line and "disk full" in line and "unexpected" not in line, line
        assert list(disk.iterdir()) == []


def test_training_into_a_full_disk_is_one_line_saying_disk_full(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_disk(tmp_path / "disk", "6m") as disk:  # the step-0 checkpoint fits, the step-2 one does not
        argv = ["train", *TINY, "--tasks", "shapes", "--num-train", "16", "--num-test", "8", "--out", str(disk / "r")]
        rc, err = _run(argv, capsys)
        line = _one_error(err)
        assert rc == 2 and "disk full" in line and "unexpected" not in line, line
        assert not list((disk / "r" / ckpt.CHECKPOINTS).glob(".*.tmp")), "the failed checkpoint's folder was kept"
