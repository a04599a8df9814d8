"""Where one masked-pretraining step of the cpu preset spends its time, on a folder of the user's images (as
``omnivec pretrain --train DIR`` builds it): the step's median wall time, the forward's time per module, and
torch.profiler's table of operators.

    python bench/pretrain_profile.py DIR [--batch 64] [--stem-context visible|own] [--no-profile]

Run it alone on the machine (pin one thread with ``taskset -c 0 env OMP_NUM_THREADS=1`` for a stable figure).
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

import torch
from torch import nn
from torch.profiler import profile

from omnivec.api.pretrain import MaskedAutoencoder, PretrainConfig, PretrainObjective, pretrain_tasks
from omnivec.api.train import prepare_tasks, train_tokenizer
from omnivec.api.user_data import add_pretraining_data
from omnivec.config import preset
from omnivec.nn.model import OmniModel
from omnivec.training.optim import make_optimizer


def time_modules(root: nn.Module, depth: int = 2) -> dict[str, float]:
    """Seconds spent in each submodule's forward (to ``depth`` levels), accumulated by hooks."""
    spent: dict[str, float] = collections.defaultdict(float)
    for name, m in root.named_modules():
        if name and name.count(".") < depth:
            m.register_forward_pre_hook(lambda mod, _i: setattr(mod, "_t0", time.perf_counter()))
            m.register_forward_hook(
                lambda mod, _i, _o, name=name: spent.__setitem__(name, spent[name] + time.perf_counter() - mod._t0)
            )
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--stem-context", choices=["visible", "own"], default="visible")
    ap.add_argument("--no-profile", action="store_true", help="the step and forward times only")
    a = ap.parse_args()
    torch.manual_seed(0)
    cfg = preset("cpu")
    cfg.tasks = []
    name = add_pretraining_data(cfg, a.folder)
    tasks = pretrain_tasks(prepare_tasks(cfg, cfg.tasks))
    cfg.model.tasks = []
    mae = MaskedAutoencoder(
        OmniModel(cfg.model, train_tokenizer(cfg, tasks)), PretrainConfig(stem_context=a.stem_context)
    )
    task = tasks[name]
    batch = mae.omni.collate(task.cfg.modality, [task.splits.train[i][0] for i in range(a.batch)])
    objective = PretrainObjective(mae, {name: task.cfg.modality})
    opt = make_optimizer(objective, cfg.train)

    def step() -> None:
        loss, _ = objective({name: batch})
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(9):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    ms = 1000 * statistics.median(times)
    print(
        f"stem context {a.stem_context}: step {ms:.1f} ms median ({a.batch / ms * 1000:.0f} samples/s, "
        f"{torch.get_num_threads()} threads)"
    )
    spent = time_modules(mae)
    t = time.perf_counter()
    for _ in range(5):
        objective({name: batch})
    forward = (time.perf_counter() - t) / 5
    print(f"forward {1000 * forward:.1f} ms; in modules (the rest: encoder stems via masked_tokens, losses):")
    for mod, s in sorted(spent.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {mod:40s} {1000 * s / 5:7.1f} ms")
    if a.no_profile:
        return
    with profile() as prof:
        for _ in range(3):
            step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
