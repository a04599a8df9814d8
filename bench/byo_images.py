"""Bring your own images, as a user would: MNIST written out as PNG class folders (``--train`` images from the
official training split, ``--val`` from the official test split), then ``omnivec train --train DIR --val DIR``
with DEFAULT settings, beside the 3-layer CNN baseline trained on the same PNGs for the same steps x batch.

The target (issue 9): >= 0.95 held-out accuracy within 10 minutes on 2 cores.

    OMNIVEC_DATA=../shared/data python bench/byo_images.py [--train 8000] [--val 2000] [--work /tmp/byo]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from omnivec.config import preset
from omnivec.data.byo import export_image_folder
from omnivec.data.datasets import load_dataset
from omnivec.experiments.baselines import Budget, default_lr, train_baseline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=8000)
    ap.add_argument("--val", type=int, default=2000)
    ap.add_argument("--work", default="/tmp/omnivec-byo")
    a = ap.parse_args()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    splits = load_dataset("mnist", os.environ.get("OMNIVEC_DATA") or None)
    names = [f"digit{i}" for i in range(10)]
    train_view = [splits.train[i] for i in range(a.train)]
    val_view = [splits.test[i] for i in range(a.val)]
    export_image_folder(train_view, names, work / "train")
    export_image_folder(val_view, names, work / "val")

    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "omnivec", "train", "--train", str(work / "train"), "--val", str(work / "val")]
    subprocess.run([*cmd, "--out", str(work / "run"), "--quiet"], check=True)
    omni_s = time.perf_counter() - t0
    (result,) = json.loads((work / "run" / "eval.json").read_text()).values()

    from omnivec.api.train import prepare_tasks
    from omnivec.api.user_data import add_byo

    cfg = preset("cpu")
    add_byo(cfg, str(work / "train"), str(work / "val"), "")
    (task,) = prepare_tasks(cfg, cfg.tasks).values()
    budget = Budget(steps=cfg.train.max_steps, batch_size=cfg.train.batch_size, lr=default_lr(task.cfg))
    ref = train_baseline(task.cfg, task.splits.train, task.splits.test, budget)
    print(f"bring-your-own MNIST PNGs: {a.train} train / {a.val} held out, default settings")
    print(f"  omnivec train (defaults): accuracy {result['value']:.4f} in {omni_s:.0f} s wall (train + eval)")
    same = f"same {budget.steps} x {budget.batch_size}"
    print(f"  {ref['baseline']} baseline, {same}: {ref['value']:.4f} in {ref['seconds']:.0f} s")
    print(f"  target >= 0.95 within 600 s: {'met' if result['value'] >= 0.95 and omni_s <= 600 else 'NOT met'}")


if __name__ == "__main__":
    main()
