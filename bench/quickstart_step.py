"""Where the quickstart's six-task training step spends its time, and whether packing the tasks' tokens into fewer
trunk calls would pay (issue 28 item 1): the real step (one sub-batch per task, forward + backward + AdamW) with
its forward split by module; then the trunk alone, fed the step's own token shapes, run per task (what training
does), as one batch padded to the longest task, and bucketed by length (tasks of equal length in one call), each
fwd + bwd, alternated, median; and the trunk's FLOP rate against this machine's fp32 matmul peak measured in the
same run. A trunk already near the peak is bound by arithmetic, not by small calls: packing cannot make it faster.

    OMNIVEC_DATA=../shared/data python bench/quickstart_step.py [--reps 9]

Pin it to one thread on a quiet core (``taskset -c 0 env OMP_NUM_THREADS=1``) for stable figures. Without a data
root it measures the generated suite (the quickstart's fallback)."""

from __future__ import annotations

import argparse
import collections
import os
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from omnivec.api.train import make_augment, make_collate, prepare_tasks, train_tokenizer
from omnivec.data.real_tasks import real_suite
from omnivec.experiments.quickstart import quickstart_config
from omnivec.nn.model import OmniModel
from omnivec.training.objective import SupervisedObjective
from omnivec.training.optim import make_optimizer
from pretrain_throughput import alternate as medians  # bench/ is the script's folder: on sys.path
from pretrain_throughput import matmul_peak


def module_times(model: torch.nn.Module, run: Callable[[], None], reps: int) -> dict[str, float]:
    """Seconds per call of ``run`` spent in each top-level encoder, the trunk and each head's forward."""
    spent: dict[str, float] = collections.defaultdict(float)
    hooks = []
    for name, m in model.named_modules():
        if name == "trunk" or (name.count(".") == 1 and name.split(".")[0] in ("encoders", "heads")):
            hooks.append(m.register_forward_pre_hook(lambda mod, _i: setattr(mod, "_t0", time.perf_counter())))
            hooks.append(
                m.register_forward_hook(
                    lambda mod, _i, _o, name=name: spent.__setitem__(name, spent[name] + time.perf_counter() - mod._t0)
                )
            )
    for _ in range(reps):
        run()
    for h in hooks:
        h.remove()
    return {k: v / reps for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=9)
    a = ap.parse_args()
    root = os.environ.get("OMNIVEC_DATA", "")
    torch.manual_seed(0)
    cfg = quickstart_config(0, root, real_suite(root) or None)
    tasks = prepare_tasks(cfg, cfg.tasks)
    cfg.model.tasks = []
    model = OmniModel(cfg.model, train_tokenizer(cfg, tasks))
    for p in tasks.values():
        model.add_task(p.cfg)
    objective, opt = SupervisedObjective(model), make_optimizer(model, cfg.train)
    g = torch.Generator().manual_seed(0)
    batches = {}
    for name, p in tasks.items():
        batch = make_collate(model, p.cfg)([p.splits.train[i] for i in range(cfg.train.batch_size)])
        augment = make_augment(model, p.cfg)
        batches[name] = augment(batch, g) if augment else batch

    def step() -> None:
        loss, _ = objective(batches)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    trunk_inputs: list[tuple[Tensor, Tensor | None]] = []
    hook = model.trunk.register_forward_pre_hook(
        lambda _m, args: trunk_inputs.append((args[0].detach(), args[1] if len(args) > 1 else None))
    )
    with torch.no_grad():
        objective(batches)
    hook.remove()

    peak = matmul_peak()[1]  # the median: what a sustained run sees
    step_s = medians({"step": step}, a.reps)["step"]
    per_module = module_times(model, lambda: objective(batches), a.reps)
    print(
        f"threads {torch.get_num_threads()}; fp32 matmul peak {peak / 1e9:.1f} GFLOP/s; tasks "
        f"{', '.join(f'{n} ({p.cfg.modality})' for n, p in tasks.items())}; batch {cfg.train.batch_size} each"
    )
    print(f"training step (fwd + bwd + AdamW): {step_s * 1e3:.1f} ms; forward by module:")
    for k, v in per_module.items():
        print(f"  {k:28s} {v * 1e3:7.1f} ms")

    # ---- the trunk alone on the step's own token shapes
    trunk = model.trunk
    xs = [x for x, _ in trunk_inputs]  # detached when recorded
    pads = [p for _, p in trunk_inputs]
    L = max(x.shape[1] for x in xs)

    def pad_mask(x: Tensor, p: Tensor | None) -> Tensor:
        return p if p is not None else torch.zeros(x.shape[:2], dtype=torch.bool)

    big_x = torch.cat([F.pad(x, (0, 0, 0, L - x.shape[1])) for x in xs])
    big_p = torch.cat([F.pad(pad_mask(x, p), (0, L - x.shape[1]), value=True) for x, p in zip(xs, pads)])
    by_len: dict[int, list[int]] = collections.defaultdict(list)
    for i, x in enumerate(xs):
        by_len[x.shape[1]].append(i)
    buckets = [
        (torch.cat([xs[i] for i in idx]), torch.cat([pad_mask(xs[i], pads[i]) for i in idx])) for idx in by_len.values()
    ]

    def fwd_bwd(calls: list[tuple[Tensor, Tensor | None]]) -> Callable[[], None]:
        def f() -> None:
            sum(trunk(x, p).pow(2).mean() for x, p in calls).backward()  # type: ignore[union-attr]

        return f

    arms = {
        "per task (training)": fwd_bwd(list(zip(xs, pads))),
        "one padded batch": fwd_bwd([(big_x, big_p)]),
        "bucketed by length": fwd_bwd(buckets),
    }
    with FlopCounterMode(display=False) as fc:
        arms["per task (training)"]()
    flops = fc.get_total_flops()
    trunk_t = medians(arms, a.reps)
    slots = sum(x.shape[0] * x.shape[1] for x in xs)
    real = sum(int((~pad_mask(x, p)).sum()) for x, p in zip(xs, pads))
    print(
        f"trunk fwd + bwd on the step's tokens: {len(xs)} calls, {slots} token slots ({real} real); one padded "
        f"batch {tuple(big_x.shape[:2])} = {big_x.shape[0] * L} slots; {len(buckets)} length buckets"
    )
    for k, v in trunk_t.items():
        print(f"  {k:22s} {v * 1e3:7.1f} ms")
    rate = flops / trunk_t["per task (training)"]
    print(
        f"trunk per task: {flops / 1e9:.2f} GFLOP at {rate / 1e9:.1f} GFLOP/s = {100 * rate / peak:.0f}% of the "
        f"matmul peak; the trunk is {100 * 3 * per_module.get('trunk', 0) / step_s:.0f}% of the step (forward x 3)"
    )


if __name__ == "__main__":
    main()
