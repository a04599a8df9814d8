"""The promises of docs/reliability.md that need a real process, a real run or a clock: the run-folder lock,
bounded bad data (no hang, no disk filling), the hang cases of issue 14 under a timeout, pruning of old
checkpoints, a torn metrics line, file modes. The corpus of one-line errors is tests/cli/test_bad_inputs.py; the
kill-at-every-write test is tests/training/test_crash_resume.py."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_helpers import unival_pretraining_tsv
from omnivec.cli import main
from omnivec.training import checkpoint as ckpt
from omnivec.training.locking import RunLock

pytestmark = pytest.mark.slow  # real processes, real runs and clocks (make test-slow)

SRC = str(Path(__file__).parents[2] / "src")
TINY = ["--preset", "tiny", "--batch-size", "2", "--quiet"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}


def _cli(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, killed (and the test failed) past ``timeout`` seconds: a hang is a failure."""
    return subprocess.run(
        [sys.executable, "-m", "omnivec", *argv], env=_env(), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run checkpointed every step, keeping 2 checkpoints."""
    out = tmp_path_factory.mktemp("rel") / "run"
    argv = ["train", *TINY, "--tasks", "shapes", "--num-train", "8", "--num-test", "4", "--max-steps", "4"]
    assert main([*argv, "--checkpoint-every", "1", "--keep-checkpoints", "2", "--out", str(out)]) == 0
    return out


def test_only_the_newest_checkpoints_are_kept_and_published(run: Path) -> None:
    assert [p.name for _, p in ckpt.checkpoint_dirs(run)] == ["ckpt-000003", "ckpt-000004"]
    newest = run / ckpt.CHECKPOINTS / "ckpt-000004"
    manifest = ckpt.verify_checkpoint(newest)
    assert manifest["step"] == 4 and set(manifest["files"]) >= {ckpt.WEIGHTS, ckpt.TRAIN_STATE, ckpt.CONFIG}
    for name in manifest["files"]:  # the top-level files are the newest checkpoint's, not copies
        assert os.path.samefile(run / name, newest / name)
    assert not list(run.rglob("*.tmp"))


def test_files_follow_the_umask(run: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    for name in (ckpt.WEIGHTS, ckpt.CONFIG, "eval.json"):
        assert (run / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_a_second_writer_is_refused_with_the_holders_pid(run: Path, tmp_path: Path, capsys) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from omnivec.training.locking import RunLock;"
         " RunLock(sys.argv[1]).acquire(); print('HELD', flush=True); time.sleep(120)", str(copy)],
        env=_env(), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "HELD"
        before = sorted((p.name, p.stat().st_mtime_ns) for p in copy.rglob("*"))
        assert main(["train", "--out", str(copy), "--resume", "--max-steps", "6", "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert f"in use by another omnivec process (pid {holder.pid})" in err and len(err.splitlines()) == 1
        assert sorted((p.name, p.stat().st_mtime_ns) for p in copy.rglob("*")) == before
    finally:
        holder.kill()
        holder.wait()
    # the holder died without releasing anything: the kernel dropped its lock, the next run takes it over
    assert main(["train", "--out", str(copy), "--resume", "--max-steps", "5", "--quiet"]) == 0
    assert f"taking over the lock of pid {holder.pid}" in capsys.readouterr().err
    steps = [json.loads(line)["step"] for line in (copy / ckpt.METRICS).read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 5


def test_a_lock_is_exclusive_within_one_process_too(tmp_path: Path) -> None:
    with RunLock(tmp_path), pytest.raises(Exception, match=f"pid {os.getpid()}"):
        RunLock(tmp_path).acquire()
    RunLock(tmp_path).acquire()  # released on exit


def test_a_torn_metrics_line_is_skipped_by_plot_and_resume(run: Path, tmp_path: Path, capsys) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    with open(copy / ckpt.METRICS, "a") as f:
        f.write('{"step": 5, "loss": 1.')  # a crash or a full disk mid-line
    with pytest.warns(UserWarning, match="not a JSON record"):
        assert main(["train", "--out", str(copy), "--resume", "--max-steps", "5", "--quiet"]) == 0
    steps = [json.loads(line)["step"] for line in (copy / ckpt.METRICS).read_text().splitlines()]
    assert steps == [4, 5]  # the tiny preset logs every 10 steps and at the last; the torn line is gone


# ------------------------------------------------------------------------------- bad data and hang cases


def _unreadable_folder(root: Path) -> Path:
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            (root / c / f"{i}.png").write_bytes(b"not an image %d" % i)
    return root


@pytest.mark.parametrize("command", ["train", "finetune"])
def test_a_dataset_without_one_readable_file_stops_naming_files(tmp_path: Path, command: str) -> None:
    data = _unreadable_folder(tmp_path / "glyphs")
    head = ["train"] if command == "train" else ["finetune", "scratch", "--steps", "3"]
    steps = ["--max-steps", "3"] if command == "train" else []
    r = _cli([*head, *TINY, *steps, "--train", str(data), "--out", str(tmp_path / "run")], timeout=240)
    assert r.returncode == 2, r.stderr[-2000:]
    err = r.stderr.strip().splitlines()[-1]
    assert "no readable sample in a whole epoch" in err and "not a readable image" in err and ".png" in err
    assert "Traceback" not in r.stderr
    paths = [json.loads(line)["path"] for line in (tmp_path / "run" / "skipped.jsonl").read_text().splitlines()]
    assert 1 <= len(paths) <= 6 and len(set(paths)) == len(paths)  # each file once, never once per visit


def test_a_tsv_without_one_readable_row_stops_naming_it(tmp_path: Path) -> None:
    bad = base64.b64encode(b"\x89PNG\r\n\x1a\n not a png").decode()
    tsv = tmp_path / "cap.tsv"
    tsv.write_text("".join(f"{i}\tim{i}\ta red square\t\t{bad}\n" for i in range(6)))
    argv = ["unival", "finetune", "scratch", "--tsv", f"caption={tsv},{tsv}", "--steps", "3", "--batch-size", "2"]
    r = _cli([*argv, "--num-bins", "16", "--image-size", "16", "--quiet", "--out", str(tmp_path / "run")], 240)
    assert r.returncode == 2, r.stderr[-2000:]
    err = r.stderr.strip().splitlines()[-1]
    assert "no readable sample in a whole epoch" in err and "cap.tsv" in err and "line " in err
    assert "Traceback" not in r.stderr


def test_an_alias_bomb_in_a_run_config_is_refused_at_once(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / ckpt.CHECKPOINTS)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
    )
    (copy / ckpt.CONFIG).unlink()
    (copy / ckpt.CONFIG).write_text(bomb)
    t0 = time.perf_counter()
    r = _cli(["train", "--out", str(copy), "--resume", "--quiet"], timeout=60)
    assert r.returncode == 2 and "aliases" in r.stderr, r.stderr[-2000:]
    assert time.perf_counter() - t0 < 60


def test_a_large_image_is_resized_on_decode_and_embeds_like_its_small_copy(run: Path, tmp_path: Path) -> None:
    """A 16 Mpixel photo embeds in seconds (decoded straight to the run's 32 x 32), and gives the vector the same
    image at 32 x 32 gives: one resize path for training, embed and predict."""
    big = tmp_path / "big.png"
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 255, size=(8, 8, 3), dtype=np.uint8)
    Image.fromarray(np.kron(tile, np.ones((500, 500, 1), dtype=np.uint8))).save(big)  # 4000 x 4000
    small = tmp_path / "small.png"
    Image.open(big).convert("RGB").resize((32, 32), Image.Resampling.BILINEAR).save(small)
    out = tmp_path / "v.npz"
    r = _cli(["embed", str(run), "--modality", "image", "--input", str(big), str(small), "--out", str(out)], 120)
    assert r.returncode == 0, r.stderr[-2000:]
    v = np.load(out)["vectors"]
    assert v.shape[0] == 2 and np.allclose(v[0], v[1], atol=1e-5)


def test_a_run_refused_before_writing_leaves_no_folder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "x"
    assert main(["train", "--preset", "tiny", "--tasks", "nosuch", "--out", str(out)]) == 2
    assert "unknown task 'nosuch'" in capsys.readouterr().err
    assert not out.exists()  # not even the lock file


def test_unival_resume_takes_the_same_command_and_refuses_a_changed_flag(tmp_path: Path, capsys) -> None:
    out, tsv = tmp_path / "uv", unival_pretraining_tsv(tmp_path / "pre.tsv", 4)
    argv = ["unival", "pretrain", "--tsv", f"pretrain={tsv}", "--steps", "2", "--batch-size", "2"]
    argv += ["--num-bins", "16", "--image-size", "16", "--eval-limit", "2"]
    argv += ["--quiet", "--out", str(out)]
    assert main(argv) == 0
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*"))
    assert main([*argv, "--resume", "--lr", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--lr 0.5 differs from the saved train.lr" in err and len(err.strip().splitlines()) == 1
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*")) == before
    assert main([*argv, "--resume"]) == 0  # the same command continues it (here: it is already at its end)
