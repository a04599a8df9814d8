"""Text masked-token pretraining: which mask ratio gives features that probe best (docs/recipe.md, "Text: hide
40 %"). Per ratio: ``omnivec pretrain`` on Banking77's training queries alone (the full-budget row's model,
2,000 steps x 64 by default), then the closing linear probe / k-NN of the frozen features beside random weights.
Writes ``results/pretrain-study/text-mask.json`` (one entry per ratio, with the machine it ran on).

    OMNIVEC_DATA=../shared/data python bench/text_mask_study.py [--ratios 0.15,0.4,0.6] [--steps 2000] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from omnivec.api.pretrain import PretrainConfig, pretrain
from omnivec.data.root import require_root
from omnivec.experiments.full_budget import full_budget_config
from omnivec.experiments.ledger import provenance


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ratios", default="0.15,0.4,0.6")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--work", default="runs/text-mask")
    p.add_argument("--out", default="results/pretrain-study/text-mask.json")
    a = p.parse_args()
    arms = []
    for ratio in (float(r) for r in a.ratios.split(",")):
        cfg = full_budget_config("banking77", str(require_root()), 0, a.steps, 0)
        t0 = time.perf_counter()
        masks = PretrainConfig(mask_ratio={"text": ratio})
        res = pretrain(cfg, Path(a.work) / f"mask-{ratio:g}", masks, progress=False)
        (probe,) = res["probe"]
        arm = {"mask_ratio": ratio, "steps": a.steps, "batch_size": cfg.train.batch_size, "probe": probe}
        arms.append(arm | {"wall_s": round(time.perf_counter() - t0, 1)})
        print(json.dumps(arms[-1]), flush=True)
    record = {"study": "text mask ratio, banking77 alone", "arms": arms, **provenance()}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
