"""A crash after every individual file write of a checkpoint resumes bit-exact (issue 14, defect 1).

One driver process imports omnivec once and forks a child per crash point: the child trains with
``OMNIVEC_CRASH_AFTER_WRITE=k`` (``os._exit`` right after the k-th durable write, see
:mod:`omnivec.training.checkpoint`), then another child continues the folder -- ``--resume`` when a complete checkpoint
survived, else a fresh start, exactly what a user would run -- and the final weights, EMA, train state and
metrics must equal an uninterrupted run's bit for bit. The crash points are every write of the step-2
checkpoint (its six files, the folder rename, the five published files) and the first write and the rename of
the step-0 checkpoint (nothing resumable yet, then the first resumable folder). Forking keeps the cost of the
14 crashes at one import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from omnivec.training import checkpoint as ckpt

pytestmark = pytest.mark.slow  # a forked process per checkpoint write, each resumed (make test-slow)

ARGS = "--preset tiny --tasks shapes,topics --num-train 16 --num-test 8 --batch-size 4 --max-steps 4"
ARGS += " --checkpoint-every 2 --set train.ema_decay=0.9 --set train.log_every=1 --set train.warmup_steps=1 --quiet"
WRITES_PER_CHECKPOINT = 12  # config, tokenizer, weights, EMA, state, manifest; the rename; 5 published files
CRASH_POINTS = [1, 7, *range(13, 13 + WRITES_PER_CHECKPOINT)]

DRIVER = """
import json, os, sys
import torch
torch.set_num_threads(1)
from omnivec.training import checkpoint as ckpt
from omnivec.cli import main

root, args, points = sys.argv[1], sys.argv[2].split(), json.loads(sys.argv[3])

def child(name, argv, crash=None):
    pid = os.fork()
    if pid == 0:
        log = os.open(os.path.join(root, name + ".log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        if crash is not None:
            os.environ["OMNIVEC_CRASH_AFTER_WRITE"] = str(crash)
        else:
            os.environ.pop("OMNIVEC_CRASH_AFTER_WRITE", None)
        ckpt._write_count = 0
        try:
            rc = main(argv)
        except BaseException:
            import traceback; traceback.print_exc(); rc = 99
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(rc)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

report = {"ref": child("ref", ["train", *args, "--out", os.path.join(root, "ref")])}
for k in points:
    out = os.path.join(root, f"crash-{k}")
    crashed = child(f"crash-{k}", ["train", *args, "--out", out], crash=k)
    resumable = ckpt.has_state(ckpt.Path(out))
    argv = ["train", "--out", out, "--resume", "--quiet"] if resumable else ["train", *args, "--out", out]
    report[str(k)] = {"crashed": crashed, "resumed": resumable, "rc": child(f"resume-{k}", argv)}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def crashes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    root = tmp_path_factory.mktemp("crashes")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "OMP_NUM_THREADS": "1"}
    env.pop("OMNIVEC_CRASH_AFTER_WRITE", None)
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(root), ARGS, json.dumps(CRASH_POINTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, json.loads(proc.stdout.strip().splitlines()[-1])


def _tensors(run: Path) -> dict[str, torch.Tensor]:
    out = {
        f"{name}:{k}": v for name in (ckpt.WEIGHTS, ckpt.EMA_WEIGHTS) for k, v in ckpt.load_weights(run / name).items()
    }
    state = ckpt.load_state(run / ckpt.TRAIN_STATE)
    for idx, moments in state["optimizer"]["state"].items():
        out.update({f"optimizer.{idx}.{k}": v for k, v in moments.items()})
    out["rng_cpu"] = state["rng_cpu"]
    return out


def _losses(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in map(json.loads, (run / ckpt.METRICS).read_text().splitlines())]


@pytest.mark.parametrize("k", CRASH_POINTS)
def test_a_crash_after_each_write_resumes_bit_exact(crashes: tuple[Path, dict[str, object]], k: int) -> None:
    root, report = crashes
    assert report["ref"] == 0, (root / "ref.log").read_text()[-2000:]
    r = report[str(k)]
    assert isinstance(r, dict)
    assert r["crashed"] == 86, f"the crash hook did not fire at write {k}: {(root / f'crash-{k}.log').read_text()}"
    assert r["resumed"] == (k >= 7), "a complete checkpoint exists from the step-0 rename on, and only then"
    assert r["rc"] == 0, (root / f"resume-{k}.log").read_text()[-3000:]
    ref, run = _tensors(root / "ref"), _tensors(root / f"crash-{k}")
    assert ref.keys() == run.keys()
    differ = [name for name in ref if not torch.equal(ref[name], run[name])]
    assert not differ, f"{len(differ)} of {len(ref)} tensors differ after a crash at write {k}: {differ[:5]}"
    assert _losses(root / f"crash-{k}") == _losses(root / "ref"), "metrics.jsonl: each step once, same losses"
    leftovers = [p for p in (root / f"crash-{k}").rglob("*.tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    if r["resumed"]:
        assert "taking over the lock of pid" in (root / f"resume-{k}.log").read_text()
