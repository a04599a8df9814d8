"""Data pipeline vs training throughput on FSDD (real audio), measured in one script, interleaved.

Three rates, in samples/s, each the median over ``--rounds`` alternating rounds so load changes hit all alike:

* ``pipeline (cached)``: the ``fsdd`` catalogue task (audio decoded + resampled once into the npz cache, see
  ``omnivec data prepare``) through :class:`BatchStream` with ``--workers`` DataLoader workers, including the
  task's collate (padding into the encoder's input);
* ``pipeline (files)``: the same recordings as a bring-your-own folder (``<digit>/<file>.wav`` links), every
  WAV decoded and resampled per sample in the workers, no cache;
* ``train (small)``: one optimisation step (forward, backward, AdamW) of the ``small`` preset on fsdd batches.

It prints the ratio pipeline / train; the target is >= 5x for the cached pipeline.

    OMNIVEC_DATA=../shared/data python bench/data_throughput.py [--batch 32] [--workers 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from omnivec.api.train import make_collate
from omnivec.config import TaskConfig, preset
from omnivec.data.byo import load_user
from omnivec.data.datasets.verify import fsdd_files
from omnivec.data.stream import BatchStream
from omnivec.data.task_catalog import get_task
from omnivec.nn.model import OmniModel
from omnivec.training.objective import SupervisedObjective


def pipeline_rate(stream: BatchStream, batches: int) -> float:
    n, start = 0, time.perf_counter()
    for _ in range(batches):
        _, tgt = next(stream)
        n += len(tgt)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data-batches", type=int, default=40)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--data-root", default=os.environ.get("OMNIVEC_DATA", ""))
    a = ap.parse_args()

    cfg = preset("small")
    cfg.data_root = a.data_root
    torch.manual_seed(0)
    entry = get_task("fsdd")
    splits = entry.build(cfg)  # builds (or reuses) the decoded-audio cache
    task = TaskConfig(
        name="fsdd",
        kind="classification",
        modality="audio",
        dataset="fsdd",
        num_classes=10,
        class_names=list(splits.class_names),
    )
    cfg.model.tasks = []
    model = OmniModel(cfg.model, None)
    model.add_task(task)
    model.train()
    objective = SupervisedObjective(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    collate = make_collate(model, task)

    with tempfile.TemporaryDirectory() as tmp:
        for path, digit, _, _ in fsdd_files(cfg.data_root or None):
            d = Path(tmp) / str(digit)
            d.mkdir(exist_ok=True)
            (d / path.name).symlink_to(path)
        folder = load_user(tmp, cfg)
        cached = BatchStream(splits.train, a.batch, 0, collate, a.workers, name="fsdd-cached")
        files = BatchStream(folder, a.batch, 0, collate, a.workers, name="fsdd-files")
        train_stream = BatchStream(splits.train, a.batch, 1, collate, 0, name="fsdd-train")

        def train_rate() -> float:
            batches = [next(train_stream) for _ in range(a.train_steps)]
            start = time.perf_counter()
            for b in batches:
                loss, _ = objective({"fsdd": b})
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return a.train_steps * a.batch / (time.perf_counter() - start)

        pipeline_rate(cached, 2), pipeline_rate(files, 2), train_rate()  # warm up workers and kernels
        rates: dict[str, list[float]] = {"cached": [], "files": [], "train": []}
        for _ in range(a.rounds):
            rates["cached"].append(pipeline_rate(cached, a.data_batches))
            rates["train"].append(train_rate())
            rates["files"].append(pipeline_rate(files, a.data_batches // 4))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(
        f"fsdd, batch {a.batch}, {a.workers} DataLoader workers, {a.rounds} interleaved rounds, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"pipeline (cached decoded audio): {med['cached']:10.1f} samples/s")
    print(f"pipeline (WAV files, no cache):  {med['files']:10.1f} samples/s")
    print(f"train step, small model:         {med['train']:10.1f} samples/s")
    print(f"ratio cached pipeline / train:   {med['cached'] / med['train']:10.1f}x (target >= 5x)")
    print(f"ratio file pipeline / train:     {med['files'] / med['train']:10.1f}x")


if __name__ == "__main__":
    main()
