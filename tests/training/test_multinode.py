"""Beyond one machine, tested on one (docs/scale.md): two torchrun "nodes" on 127.0.0.1 (``--nnodes 2``, c10d
rendezvous, one process each) train ``omnivec train`` and ``omnivec unival pretrain`` to the very weights of a
single-node 2-process run; an elastic run (``--max-restarts 1``) whose rank 1 is killed mid-run restarts from its
last checkpoint and ends with the weights of an uninterrupted run, bit for bit; a run checkpointed on 2 ranks
resumes on 1 and back on 2, each stream continuing at the first sample of its epoch that no rank has taken.

The wrapper script is test-only: ``KILL_AT=N`` makes rank 1 SIGKILL itself as it starts step N + 1, on the first
attempt only (``TORCHELASTIC_RESTART_COUNT`` 0), after writing a marker file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from data_helpers import torchrun_path, unival_pretraining_tsv
from omnivec.training import checkpoint as ckpt

pytestmark = pytest.mark.slow  # several 2-process torchrun runs (make test-slow)

SCRIPT = """
import os, signal, sys
from omnivec.cli import entry
from omnivec.training.engine import Engine

kill_at = int(os.environ.get("KILL_AT", "0"))
orig = Engine._micro_step
def micro_step(self, names, sync):
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    if kill_at and self.dist.rank == 1 and self.state.step == kill_at and first_attempt:
        open(os.environ["KILL_MARKER"], "w").write(str(self.state.step))
        os.kill(os.getpid(), signal.SIGKILL)
    return orig(self, names, sync)
Engine._micro_step = micro_step
entry(sys.argv[1:])
"""

TRAIN = ["train", "--tasks", "shapes,topics", "--preset", "tiny", "--num-train", "64", "--num-test", "8"]
TRAIN += ["--batch-size", "4", "--checkpoint-every", "2", "--set", "train.log_every=1", "--quiet"]
UNIVAL = ["--num-bins", "16", "--image-size", "16", "--batch-size", "2", "--eval-limit", "2", "--quiet"]


def env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parents[2] / "src"),
        "OMP_NUM_THREADS": "1",
        "OMNIVEC_DATA": "",  # hermetic: no real dataset enters a vocabulary or a task
    }


def script(tmp: Path) -> str:
    path = tmp / "run.py"
    path.write_text(SCRIPT)
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check(r: subprocess.CompletedProcess[str] | tuple[int, str], what: str) -> None:
    code, text = (r.returncode, r.stdout + r.stderr) if isinstance(r, subprocess.CompletedProcess) else r
    assert code == 0, f"{what} exited {code}:\n{text[-4000:]}"


def single_node(tmp: Path, argv: list[str], nproc: int = 2, extra: dict[str, str] | None = None) -> None:
    """One torchrun with ``nproc`` processes (or plain python for 1)."""
    launch = [torchrun_path(), "--standalone", f"--nproc-per-node={nproc}"] if nproc > 1 else [sys.executable]
    r = subprocess.run(
        [*launch, script(tmp), *argv], env={**env(), **(extra or {})}, capture_output=True, text=True, timeout=400
    )
    check(r, " ".join(argv[:2]))


def two_nodes(tmp: Path, argv: list[str]) -> None:
    """Two torchrun agents, one process each, meeting at a c10d rendezvous on 127.0.0.1 (as two machines would
    at the first one's address); node 0 hosts the rendezvous store."""
    port, runner = free_port(), script(tmp)
    procs = []
    for node in (0, 1):
        log = open(tmp / f"node{node}.log", "w")  # noqa: SIM115 -- closed below, after the agent exits
        cmd = [torchrun_path(), "--nnodes=2", "--nproc-per-node=1", f"--node-rank={node}"]
        cmd += ["--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=multinode-test"]
        cmd += [f"--rdzv-conf=is_host={int(node == 0)}", runner, *argv]
        procs.append((subprocess.Popen(cmd, env=env(), stdout=log, stderr=subprocess.STDOUT), log))
    for node, (p, log) in enumerate(procs):
        try:
            code = p.wait(timeout=400)
        except subprocess.TimeoutExpired:
            p.kill()
            code = -9
        log.close()
        check((code, (tmp / f"node{node}.log").read_text()), f"node {node}")


def weights(run: Path) -> dict[str, torch.Tensor]:
    return ckpt.load_weights(run / ckpt.WEIGHTS)


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    diff = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not diff, f"{a} and {b} differ in {diff[:5]}"


def log_steps(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / ckpt.METRICS).read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``omnivec train`` on one node, 2 processes, 6 steps, uninterrupted."""
    tmp = tmp_path_factory.mktemp("reference")
    single_node(tmp, [*TRAIN, "--max-steps", "6", "--out", str(tmp / "run")])
    return tmp / "run"


def test_train_on_two_nodes_equals_one_node(reference: Path, tmp_path: Path) -> None:
    two_nodes(tmp_path, [*TRAIN, "--max-steps", "6", "--out", str(tmp_path / "run")])
    assert_same_weights(tmp_path / "run", reference)
    assert [r["step"] for r in log_steps(tmp_path / "run")] == list(range(1, 7))  # one writer


def test_unival_pretrain_on_two_nodes_equals_one_node(tmp_path: Path) -> None:
    tsv = unival_pretraining_tsv(tmp_path / "pretrain.tsv", 8)
    argv = ["unival", "pretrain", "--tsv", f"pretrain={tsv}", "--steps", "4", *UNIVAL]
    single_node(tmp_path, [*argv, "--out", str(tmp_path / "one")])
    two_nodes(tmp_path, [*argv, "--out", str(tmp_path / "two")])
    assert_same_weights(tmp_path / "two", tmp_path / "one")
    assert (tmp_path / "two" / ckpt.TOKENIZER).read_text() == (tmp_path / "one" / ckpt.TOKENIZER).read_text()


def test_elastic_restart_after_a_killed_rank_ends_with_the_uninterrupted_weights(
    reference: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    argv = [*TRAIN, "--max-steps", "6", "--out", str(tmp_path / "run")]
    r = subprocess.run(
        [torchrun_path(), "--standalone", "--nproc-per-node=2", "--max-restarts=1", script(tmp_path), *argv],
        env={**env(), "KILL_AT": "3", "KILL_MARKER": str(marker)},
        capture_output=True,
        text=True,
        timeout=400,
    )
    check(r, "the elastic run")
    assert marker.read_text() == "3", "rank 1 was never killed"
    # killed during step 4, restarted from the step-2 checkpoint: steps 3 and 4 were run again, logged once
    assert [rec["step"] for rec in log_steps(tmp_path / "run")] == list(range(1, 7))
    assert_same_weights(tmp_path / "run", reference)


def stream_states(run: Path) -> dict[str, dict[str, int]]:
    return dict(ckpt.load_state(run / ckpt.TRAIN_STATE)["streams"])


def uses(run: Path, task: str, first: int, last: int) -> int:
    """Steps ``first``..``last`` of the log that drew a batch of ``task``."""
    return sum(task in r["tasks"].split(",") for r in log_steps(run) if first <= r["step"] <= last)


def test_checkpoint_on_two_ranks_resumes_on_one_and_back(tmp_path: Path) -> None:
    run = tmp_path / "run"
    single_node(tmp_path, [*TRAIN, "--max-steps", "4", "--out", str(run)])
    resume = ["train", "--out", str(run), "--resume", "--quiet"]
    single_node(tmp_path, [*resume, "--max-steps", "6"], nproc=1)
    after_one = stream_states(run)
    single_node(tmp_path, [*resume, "--max-steps", "8"])
    after_two = stream_states(run)
    log = log_steps(run)
    assert [r["step"] for r in log] == list(range(1, 9))
    for task in ("shapes", "topics"):
        # 4 steps on 2 ranks took 2x that many batches of 4 from the epoch's order; 1 rank continues after them,
        # and 2 ranks again after what it took (each epoch: 64 samples, 8 batches per rank on 2, 16 on 1)
        k4, k56, k78 = uses(run, task, 1, 4), uses(run, task, 5, 6), uses(run, task, 7, 8)
        assert after_one[task] == {"epoch": 0, "position": 2 * k4 + k56, "world_size": 1}
        assert after_two[task] == {"epoch": 0, "position": (2 * k4 + k56) // 2 + k78, "world_size": 2}
    # the samples counter: world size x per-rank batch x the step's tasks
    per_step = [len(r["tasks"].split(",")) * 4 for r in log]
    expected = 2 * sum(per_step[:4]) + sum(per_step[4:6]) + 2 * sum(per_step[6:])
    assert log[-1]["samples"] == expected == ckpt.load_state(run / ckpt.TRAIN_STATE)["samples"]
    assert all(torch.isfinite(w).all() for w in weights(run).values())
