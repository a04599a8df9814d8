"""Every training command runs under ``torchrun --nproc_per_node 2`` (CPU, gloo) through the CLI: ``omnivec
train``, ``omnivec finetune``, ``omnivec unival pretrain`` and ``omnivec unival finetune`` (``omnivec
pretrain``'s Python function is covered by test_torchrun.py). For each: the objective is DDP-wrapped, both
ranks end with identical weights and tokenizer although each reads its own shard, the samples counter counts
both ranks (world size x per-rank batch x the step's tasks, summed over the steps), and the main rank is the
only writer of the run folder (one metrics line per step; rank 1 opens nothing there for writing).

The wrapper script below is test-only: it patches ``Engine.fit`` to dump each rank's weights into a separate
folder and records, with an audit hook, every file a rank opens for writing or renames inside the run folder.
No real data: the OmniVec tasks are generated, the UnIVAL tasks come from a small generated TSV file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch

from data_helpers import torchrun_path, unival_pretraining_tsv
from omnivec.training import checkpoint as ckpt

pytestmark = pytest.mark.slow  # 2-process torchrun runs of every training command (make test-slow)

SCRIPT = """
import hashlib, json, os, sys
import torch
from omnivec.cli import finish, main
from omnivec.training.engine import Engine

out, dump = os.path.abspath(sys.argv[1]), sys.argv[2]
writes = []

def audit(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path, mode, flags = os.fsdecode(args[0]), args[1] or "", args[2] or 0
        writing = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writing and os.path.abspath(path).startswith(out):
            writes.append(path)
    elif event == "os.rename" and os.path.abspath(os.fsdecode(args[1])).startswith(out):
        writes.append(os.fsdecode(args[1]))

sys.addaudithook(audit)
orig = Engine.fit
def fit(self, stop_at=0):
    before = {k: v.clone() for k, v in self.model.state_dict().items()}
    state = orig(self, stop_at)
    tok = getattr(self.model, "tokenizer", None)
    torch.save({"before": before, "after": self.model.state_dict(), "world": self.dist.world_size,
                "ddp": type(self.wrapped).__name__, "samples": state.samples,
                "tokenizer": hashlib.sha256(tok.tk.to_str().encode()).hexdigest() if tok else None},
               f"{dump}/rank{self.dist.rank}.pt")
    return state
Engine.fit = fit
code = main(sys.argv[3:])
with open(f"{dump}/rank{os.environ['RANK']}.writes.json", "w") as f:
    json.dump(writes, f)
finish(code)
"""

UNIVAL = ["--num-bins", "16", "--image-size", "16", "--batch-size", "2", "--eval-limit", "2", "--quiet"]
OMNIVEC = ["--num-train", "16", "--num-test", "8", "--batch-size", "4", "--quiet"]
UNIVAL_FILES = {
    "config.yaml",
    "eval.json",
    "loss.png",
    "metrics.jsonl",
    "metrics.csv",
    "model.safetensors",
    "tokenizer.json",
}
UNIVAL_FILES |= {"tensorboard"}  # train.log_formats: both by default


def torchrun(tmp: Path, out: Path, argv: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the CLI with ``argv`` on 2 ranks writing ``out``; return both ranks' dumps."""
    script, dump = tmp / "run.py", tmp / f"dump-{out.name}"
    script.write_text(SCRIPT)
    dump.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parents[2] / "src"),
        "OMP_NUM_THREADS": "1",
        "OMNIVEC_DATA": "",  # hermetic: no real dataset enters a vocabulary or a task
    }
    r = subprocess.run(
        [torchrun_path(), "--standalone", "--nproc_per_node=2", str(script), str(out), str(dump), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ranks = []
    for rank in (0, 1):
        d = torch.load(dump / f"rank{rank}.pt")
        d["writes"] = json.loads((dump / f"rank{rank}.writes.json").read_text())
        ranks.append(d)
    return ranks[0], ranks[1]


def check_distributed(out: Path, r0: dict[str, Any], r1: dict[str, Any], batch: int, steps: int) -> None:
    assert r0["world"] == r1["world"] == 2
    assert r0["ddp"] == r1["ddp"] == "DistributedDataParallel"
    assert r0["tokenizer"] == r1["tokenizer"]
    changed = [k for k in r0["after"] if not torch.equal(r0["after"][k], r0["before"][k])]
    assert changed, "no weight moved: nothing trained"
    diff = [k for k in r0["after"] if not torch.equal(r0["after"][k], r1["after"][k])]
    assert not diff, f"ranks diverged on {diff[:5]}"
    saved = ckpt.load_weights(out / ckpt.WEIGHTS)
    assert all(torch.equal(saved[k], r0["after"][k]) for k in saved), "the folder holds other weights"
    # one writer: rank 1 wrote nothing into the folder, and the log has each step once, in order
    assert r1["writes"] == [], f"rank 1 wrote {r1['writes'][:5]}"
    assert r0["writes"], "the audit hook saw no write at all"
    lines = (out / ckpt.METRICS).read_text().splitlines()
    log = [json.loads(line) for line in lines]
    assert [r["step"] for r in log] == list(range(1, steps + 1))
    assert len(set(lines)) == len(lines)
    assert not any(p.name.startswith("rank") or p.suffix == ".tmp" for p in out.iterdir())
    # samples across ranks: world size x per-rank batch x the step's tasks, summed over the steps
    expected = sum(2 * batch * len(r["tasks"].split(",")) for r in log)
    assert log[-1]["samples"] == r0["samples"] == r1["samples"] == expected
    assert int(ckpt.load_state(out / ckpt.TRAIN_STATE)["samples"]) == expected


@pytest.fixture(scope="module")
def unival_pretrained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any], dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("unival")
    tsv = unival_pretraining_tsv(tmp / "pretrain.tsv", 8)  # three tasks of 7 training rows (1 held out)
    out = tmp / "pre"
    argv = ["unival", "pretrain", "--out", str(out), "--tsv", f"pretrain={tsv}", "--steps", "4", *UNIVAL]
    r0, r1 = torchrun(tmp, out, argv)
    return out, tsv, r0, r1


def test_unival_pretrain_under_torchrun(
    unival_pretrained: tuple[Path, Path, dict[str, Any], dict[str, Any]],
) -> None:
    out, _, r0, r1 = unival_pretrained
    check_distributed(out, r0, r1, batch=2, steps=4)
    assert {p.name for p in out.iterdir()} == {*UNIVAL_FILES, ckpt.TRAIN_STATE, ckpt.CHECKPOINTS, ".lock"}
    tasks = {json.loads(line)["tasks"] for line in (out / ckpt.METRICS).read_text().splitlines()}
    assert tasks == {"tsv_pretrain_caption,tsv_pretrain_qa,tsv_pretrain_grounding"}  # TSV tasks: all in stage 1


def test_unival_finetune_under_torchrun(
    unival_pretrained: tuple[Path, Path, dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    parent, tsv, _, _ = unival_pretrained
    out = tmp_path / "ft"
    argv = ["unival", "finetune", str(parent), "--out", str(out), "--tsv", f"pretrain={tsv}", "--steps", "3"]
    r0, r1 = torchrun(tmp_path, out, [*argv, *UNIVAL])
    check_distributed(out, r0, r1, batch=2, steps=3)
    assert (out / ckpt.TOKENIZER).read_text() == (parent / ckpt.TOKENIZER).read_text()
    assert json.loads((out / "eval.json").read_text()).keys() == {
        "tsv_pretrain_caption",
        "tsv_pretrain_qa",
        "tsv_pretrain_grounding",
    }


TRAIN_ARGS = ["train", "--tasks", "shapes,topics", "--preset", "tiny", "--max-steps", "3", "--set", "train.log_every=1"]


@pytest.mark.parametrize(
    "command",
    [
        TRAIN_ARGS,
        ["finetune", "scratch", "--tasks=shapes,topics", "--preset=tiny", "--rounds=1", "--steps=3", "--log-every=1"],
        [*TRAIN_ARGS, "--eval-every", "2"],  # the main rank validates, every rank learns the outcome
    ],
    ids=["train", "finetune", "train-eval-every"],
)
def test_omnivec_command_under_torchrun(command: list[str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    r0, r1 = torchrun(tmp_path, out, [*command, "--out", str(out), *OMNIVEC])
    check_distributed(out, r0, r1, batch=4, steps=3)
    results = json.loads((out / "eval.json").read_text())
    assert results.keys() == {"shapes", "topics"}
    assert r0["tokenizer"] is not None  # topics is a text task: the vocabulary is shared across the ranks
    assert hashlib.sha256((out / ckpt.TOKENIZER).read_text().encode()).hexdigest() == r0["tokenizer"]
    if "--eval-every" in command:
        steps = [json.loads(line)["step"] for line in (out / "validation.jsonl").read_text().splitlines()]
        assert steps == [2, 3] and (out / "best" / "best.json").is_file() and (out / "best" / "eval.json").is_file()
