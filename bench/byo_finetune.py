"""How to fine-tune a pretrained start on few labels, measured beside training from scratch on the same labels: the
second half of the user's pretraining path (bench/byo_pretrain.py makes the folders and the start).

    OMNIVEC_DATA=../shared/data python bench/byo_finetune.py START WORK --tag fashion-mnist-seed0-48passes \\
        --arm "ld065=--layer-decay 0.65" --arm "scratch=train" --seeds 0,1,2

``WORK`` is a folder ``bench/byo_pretrain.py`` left (``labelled/``, ``val/``); START a pretrained run folder (e.g.
``WORK/pt``). Each ``--arm NAME=FLAGS`` is ``omnivec finetune START --train WORK/labelled --val WORK/val FLAGS``;
the flags ``train`` instead run ``omnivec train`` on the same folders (the scratch baseline). Every (arm, seed)
writes one record ``{tag}-ft-{arm}-seed{seed}.json`` under ``--results`` and is skipped when that record exists, so
a sweep is built over several sessions. ``--seed`` is the fine-tuning's (head init, batch order, augmentation);
the labelled images and the start stay the same.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from omnivec.experiments.ledger import provenance

sys.path.insert(0, str(Path(__file__).parent))
from byo_pretrain import omnivec, score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("start", help="pretrained run folder")
    ap.add_argument("work", help="the folder bench/byo_pretrain.py left")
    ap.add_argument("--arm", action="append", required=True, metavar="NAME=FLAGS")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--tag", required=True, help="names the start, e.g. fashion-mnist-seed0-48passes")
    ap.add_argument("--results", default="results/byo-pretrain")
    ap.add_argument("--note", default="", help="a line kept in the record (e.g. threads, what else ran)")
    a = ap.parse_args()
    work, results = Path(a.work), Path(a.results)
    data = ["--train", str(work / "labelled"), "--val", str(work / "val")]
    for arm in a.arm:
        name, _, flags = arm.partition("=")
        for seed in [int(s) for s in a.seeds.split(",")]:
            path = results / f"{a.tag}-ft-{name}-seed{seed}.json"
            if path.exists():
                print(f"{path}: recorded, skipped")
                continue
            out = work / f"ft-{name}-seed{seed}"
            if flags.strip() == "train":
                cmd = ["train", *data, "--seed", str(seed), "--out", str(out)]
            else:
                cmd = ["finetune", a.start, *data, *shlex.split(flags), "--seed", str(seed), "--out", str(out)]
            load_start = os.getloadavg()[0]
            wall = omnivec(*cmd)
            rec = {
                "start": a.start if flags.strip() != "train" else "scratch",
                "arm": name,
                "command": "omnivec " + " ".join(cmd),
                "seed": seed,
                "accuracy": score(out),
                "wall_s": wall,
                "load_avg_1min": {"start": load_start, "end": os.getloadavg()[0]},
                "note": a.note,
                **provenance(),
            }
            results.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(rec, indent=2) + "\n")
            print(f"{name} seed {seed}: {rec['accuracy']:.4f} ({wall:.0f} s)")


if __name__ == "__main__":
    main()
