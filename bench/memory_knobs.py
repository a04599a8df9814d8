"""Peak memory and step time of training a width-768, depth-12 model under the memory knobs (issue 29 item 3):
the base preset's trunk (768 wide, 12 blocks, 12 heads) behind its image encoder (16x16 patches of 224x224 RGB
images, 196 tokens) and a 10-class head, AdamW, one arm per fresh process.

    python bench/memory_knobs.py [--batch 16] [--steps 2] [--arms fp32,grad-checkpoint]

Arms: ``fp32`` (no knob), ``grad-checkpoint`` (``train.grad_checkpoint``), ``bf16`` and ``bf16+grad-checkpoint``
(``train.precision=bf16``; on a CPU bf16 runs 3-4x slower than fp32, so it is not a default arm here). Each arm
reports the process's peak resident memory (``ru_maxrss``: weights, gradients, the optimizer's two moments and the
activations of the step, all of it) and its resident memory once the model and optimizer are built (before any
step), and the median wall time of a step (forward, backward, update) after the first. Run it alone, pinned
(``taskset -c 1 env OMP_NUM_THREADS=1``), and state the machine's matmul speed beside the times.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

ARMS = {
    "fp32": {},
    "grad-checkpoint": {"grad_checkpoint": True},
    "bf16": {"precision": "bf16"},
    "bf16+grad-checkpoint": {"precision": "bf16", "grad_checkpoint": True},
}


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def run_arm(arm: str, batch: int, steps: int) -> dict[str, float]:
    """One arm in this process (called in a fresh child by :func:`main`)."""
    import torch

    from omnivec.config import TaskConfig, preset
    from omnivec.nn.model import OmniModel
    from omnivec.training.device import autocast_dtype
    from omnivec.training.optim import make_optimizer

    torch.manual_seed(0)
    cfg = preset("base")
    for key, value in ARMS[arm].items():
        setattr(cfg.train, key, value)
    cfg.model.encoders = {"image": cfg.model.encoders["image"]}
    cfg.model.encoders["image"].stem = "linear"  # type: ignore[attr-defined]
    model = OmniModel(cfg.model)
    model.add_task(TaskConfig("cls", "classification", "image", num_classes=10))
    for m in model.modules():  # as the engine sets it
        if hasattr(m, "grad_checkpoint"):
            m.grad_checkpoint = cfg.train.grad_checkpoint
    model.train()
    opt = make_optimizer(model, cfg.train)
    dtype = autocast_dtype(cfg.train.precision, torch.device("cpu"))
    x, y = torch.rand(batch, 3, 224, 224), torch.randint(0, 10, (batch,))
    built = resident_mb()
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype) if dtype is not None else torch.autocast("cpu", enabled=False):
            logits = model("cls", model.collate("image", list(x))).logits
        torch.nn.functional.cross_entropy(logits.float(), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    params = sum(p.numel() for p in model.parameters())
    return {
        "params_m": params / 1e6,
        "resident_built_mb": built,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "step_s": statistics.median(times[1:]),
    }


def matmul_gflops() -> float:
    import torch

    a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
    a @ b
    t0 = time.perf_counter()
    for _ in range(10):
        a @ b
    return 10 * 2 * 1024**3 / (time.perf_counter() - t0) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--arms", default="fp32,grad-checkpoint")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(run_arm(a.child, a.batch, a.steps)))
        return
    rows = {}
    for arm in a.arms.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--child", arm, "--batch", str(a.batch), "--steps", str(a.steps)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows[arm] = json.loads(out.strip().splitlines()[-1])
    base = rows.get("fp32")
    print(f"width 768, depth 12, batch {a.batch} of 224x224 images (196 tokens); matmul {matmul_gflops():.0f} GFLOP/s")
    print("| arm | parameters | resident, built | peak resident | peak vs fp32 | step | step vs fp32 |")
    print("|---|---|---|---|---|---|---|")
    for arm, r in rows.items():
        rel = f"{r['peak_mb'] / base['peak_mb'] - 1:+.0%}" if base else ""
        slow = f"{r['step_s'] / base['step_s']:.2f}x" if base else ""
        print(
            f"| {arm} | {r['params_m']:.1f} M | {r['resident_built_mb']:.0f} MB | {r['peak_mb']:.0f} MB | {rel} "
            f"| {r['step_s']:.1f} s | {slow} |"
        )


if __name__ == "__main__":
    main()
