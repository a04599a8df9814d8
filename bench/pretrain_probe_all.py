"""One mixed-modality masked pretraining of the ``cpu`` model on the real suite's classification datasets (image,
audio, text, points, video; labels unused), then the closing probe of every modality beside random weights: the
per-modality row of issue 24's probe bar. Writes ``results/pretrain-study/all-<tag>.json``.

    OMNIVEC_DATA=../shared/data python bench/pretrain_probe_all.py --steps 1500 --tag px [--objective latent]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from omnivec.api.pretrain import PretrainConfig, pretrain
from omnivec.config import preset
from omnivec.experiments.ledger import provenance

TASKS = ["mnist", "fsdd", "banking77", "digit-points", "moving-digits"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--train-limit", type=int, default=2000)
    ap.add_argument("--objective", default="pixels")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--work", default="/tmp/pt-probe-all")
    ap.add_argument("--results", default="results/pretrain-study")
    a = ap.parse_args()
    cfg = preset("cpu")
    cfg.tasks, cfg.data_root = list(TASKS), os.environ.get("OMNIVEC_DATA", "")
    cfg.train_limit, cfg.test_limit = a.train_limit, 1000
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.lr = a.steps, a.batch_size, 1.5e-3
    cfg.train.warmup_steps, cfg.train.log_every = max(1, a.steps // 20), max(1, a.steps // 20)
    shutil.rmtree(a.work, ignore_errors=True)
    t0 = time.perf_counter()
    s = pretrain(cfg, a.work, PretrainConfig(objective=a.objective), progress=False)
    rec = {
        "tag": a.tag,
        "tasks": TASKS,
        "steps": a.steps,
        "batch_size": a.batch_size,
        "train_limit": a.train_limit,
        "objective": a.objective,
        "wall_s": round(time.perf_counter() - t0, 1),
        "last_loss": s["last"].get("loss"),
        "probe": s["probe"],
        **provenance(),
    }
    print(json.dumps(rec, indent=2))
    out = Path(a.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"all-{a.tag}.json").write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()
