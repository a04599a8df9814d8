"""Point-cloud masked pretraining: which recipe gives frozen features that beat random weights (issue 24's probe
bar on points; docs/recipe.md, "Points"). Per arm: ``omnivec pretrain`` on digit-points' training clouds alone
(the cpu model, 2,000 clouds, 32 per step), then the closing linear probe / k-NN of the frozen features beside
random weights; once, the supervised reference (the same model trained on the labels for the same steps, its
frozen features probed), which sets the bar: a third of the way from random to supervised.

    OMNIVEC_DATA=../shared/data python bench/points_study.py --arm default= --arm mask80=mask=0.8 \\
        --arm latent=objective=latent [--steps 1500] [--out results/pretrain-study/points.json]

An arm is ``NAME=KEY=VALUE;KEY=VALUE``: ``mask`` (points' mask ratio), ``objective`` (pixels = Point-MAE's
Chamfer targets, or latent), ``groups`` and ``group_size`` (the encoder's patches), ``steps``. Arms already in
``--out`` are kept and skipped, so a study grows over sessions.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from omnivec.api.load import load
from omnivec.api.pretrain import PretrainConfig, pretrain
from omnivec.api.probe import probe_report
from omnivec.api.train import prepare_tasks, train
from omnivec.config import RunConfig, preset
from omnivec.data.root import require_root
from omnivec.experiments.ledger import provenance

TASK = "digit-points"


def study_config(steps: int, settings: dict[str, str]) -> RunConfig:
    cfg = preset("cpu")
    cfg.tasks, cfg.data_root = [TASK], str(require_root())
    cfg.train_limit, cfg.test_limit = 2000, 1000
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.lr = steps, 32, 1.5e-3
    cfg.train.warmup_steps, cfg.train.log_every = max(1, steps // 20), max(1, steps // 20)
    points: Any = cfg.model.encoders["points"]
    points.num_groups = int(settings.get("groups", points.num_groups))
    points.group_size = int(settings.get("group_size", points.group_size))
    return cfg


def run_arm(name: str, settings: dict[str, str], steps: int, work: Path) -> dict[str, Any]:
    steps = int(settings.get("steps", steps))
    cfg = study_config(steps, settings)
    t0 = time.perf_counter()
    if name == "supervised":
        train(cfg, work / name, progress=False)
        model = load(work / name)
        (row,) = probe_report(model, prepare_tasks(cfg, cfg.tasks))
    else:
        pcfg = PretrainConfig(objective=settings.get("objective", "pixels"))
        if "mask" in settings:
            pcfg.mask_ratio = {"points": float(settings["mask"])}
        (row,) = pretrain(cfg, work / name, pcfg, progress=False)["probe"]
    return {"arm": name, "settings": settings, "steps": steps, "probe": row, "wall_s": round(time.perf_counter() - t0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arm", action="append", default=[], metavar="NAME=KEY=VALUE;...")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--work", default="runs/points-study")
    ap.add_argument("--out", default="results/pretrain-study/points.json")
    a = ap.parse_args()
    out = Path(a.out)
    record = json.loads(out.read_text()) if out.is_file() else {"study": "points masked pretraining", "arms": []}
    done = {r["arm"] for r in record["arms"]}
    for spec in ["supervised=", *a.arm]:
        name, _, rest = spec.partition("=")
        if name in done:
            continue
        settings = dict(kv.split("=", 1) for kv in rest.split(";") if kv)
        arm = run_arm(name, settings, a.steps, Path(a.work)) | provenance()
        record["arms"].append(arm)
        p = arm["probe"]
        print(f"{name}: probe {p['linear']:.3f} (random {p['random_linear']:.3f}), k-NN {p['knn']:.3f} "
              f"(random {p['random_knn']:.3f}), {arm['wall_s']} s", flush=True)  # fmt: skip
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
