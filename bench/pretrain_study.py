"""One arm of the pretraining study (docs/recipe.md, "What makes pretraining pay"): masked pretraining of the
``cpu`` model on one dataset's unlabelled training split, then the frozen features' linear probe and k-NN beside
the same architecture with random weights, then fine-tuning with scarce labels from the pretrained and from the
random start (same labels, same steps). Prints one JSON line and appends it to ``--log``.

    OMNIVEC_DATA=../shared/data python bench/pretrain_study.py --task mnist --steps 3000 --objective latent \\
        --set pretrain.num_masks=4 --set model.encoders.image.patch_size=4 --log /tmp/study.jsonl

``--set`` takes ``pretrain.FIELD=V`` (PretrainConfig), ``finetune.FIELD=V`` (the fine-tuning TrainConfig) and any
RunConfig field (``model.encoders.image.patch_size=4``, ``train.lr=1e-3``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from omnivec.config import TrainConfig, apply_override, preset
from omnivec.finetune import finetune
from omnivec.pretrain import PretrainConfig, pretrain
from omnivec.probe import probe_report
from omnivec.run import load_run, save_run
from omnivec.train import prepare_tasks


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="mnist")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--objective", default="pixels")
    ap.add_argument("--train-limit", type=int, default=10000)
    ap.add_argument("--labels", type=float, default=0.01, help="label fraction for fine-tuning (0: skip)")
    ap.add_argument("--ft-steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--work", default="/tmp/pt-study")
    ap.add_argument("--log", default="/tmp/pt-study.jsonl")
    ap.add_argument("--tag", default="")
    a = ap.parse_args()

    cfg = preset("cpu")
    cfg.tasks, cfg.data_root = [a.task], os.environ.get("OMNIVEC_DATA", "")
    cfg.train_limit, cfg.test_limit = a.train_limit, 1000
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.lr, cfg.train.seed = a.steps, a.batch_size, a.lr, a.seed
    cfg.train.warmup_steps, cfg.train.log_every = max(1, a.steps // 20), max(1, a.steps // 20)
    pcfg = PretrainConfig(objective=a.objective)
    ft = TrainConfig(**asdict(preset("cpu").train))
    ft.max_steps, ft.label_fraction, ft.seed = a.ft_steps, a.labels, a.seed
    ft.warmup_steps, ft.log_every = max(1, a.ft_steps // 10), max(1, a.ft_steps // 10)
    for item in a.set:
        key, value = item.split("=", 1)
        if key.startswith("pretrain."):
            pcfg = replace(pcfg, **{key.split(".", 1)[1]: _value(value)})
        elif key.startswith("finetune."):
            setattr(ft, key.split(".", 1)[1], _value(value))
        else:
            cfg = apply_override(cfg, item)

    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    s = pretrain(cfg, work / "pt", pcfg, progress=False)
    pt_wall = time.perf_counter() - t0
    model, run_cfg = load_run(work / "pt")
    tasks = prepare_tasks(run_cfg, [a.task])
    probe = probe_report(model, tasks, seed=a.seed)[0]
    few = probe_report(model, tasks, num_train=int(a.labels * a.train_limit) or 100, seed=a.seed)[0]
    rec: dict[str, Any] = {
        "tag": a.tag,
        "task": a.task,
        "steps": a.steps,
        "objective": a.objective,
        "set": a.set,
        "pt_loss": s["last"].get("loss"),
        "pt_wall_s": round(pt_wall, 1),
        **{k: probe[k] for k in ("linear", "random_linear", "knn", "random_knn")},
        **{f"few_{k}": few[k] for k in ("linear", "random_linear", "knn", "random_knn")},
    }
    if a.labels > 0:
        torch.manual_seed(a.seed)
        save_run(type(model)(run_cfg.model, model.tokenizer), run_cfg, work / "init")
        for name, start in (("ft_pretrained", work / "pt"), ("ft_random", work / "init")):
            r = finetune(start, [a.task], work / name, ft, [[a.task]], 1, progress=False)
            rec[name] = r[a.task]["value"]
    print(json.dumps(rec))
    with open(a.log, "a") as f:
        f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
