"""One prepared check of omnivec on a CUDA GPU, written as one markdown table (bench/gpu_check.sh runs it).

Steps, each timed; a failing step is a row saying so, never the end of the check:
  1. the test suite's device-sensitive tests (``-m device``) on the GPU (``OMNIVEC_TEST_DEVICE=cuda``);
  2. bf16 autocast against fp32 on the quickstart model (``cpu`` preset: width 128, depth 4), a forward pass;
  3. train (supervised, forward + backward + AdamW) and masked pretraining steps of the quickstart model and
     of a base-size model (width 768, depth 12) under bf16 autocast, as the engine trains on CUDA: samples/s,
     the step's FLOPs (``torch.utils.flop_counter``) and MFU against the GPU's bf16 dense peak;
  4. cached greedy and beam-4 decoding tokens/s of a UnIVAL-sized text decoder;
  5. ``omnivec serve`` latency: p50/p99 of sequential image requests to an untrained quickstart-size run.

    bench/gpu_check.sh [--out FILE]          # on a CUDA machine; the table goes to $OUT/gpu_check.md if $OUT is set
    bench/gpu_check.sh --dry-run             # on CPU: tiny shapes, every step short of needing CUDA, in seconds

Nothing is downloaded: the models are built from presets with random weights (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "bench")]

from omnivec.api.pretrain import MaskedAutoencoder, PretrainConfig  # noqa: E402
from omnivec.config import TaskConfig, preset  # noqa: E402
from omnivec.nn.generation import beam_search, greedy  # noqa: E402
from omnivec.nn.heads.decoder import TextDecoder  # noqa: E402
from omnivec.nn.model import OmniModel  # noqa: E402
from omnivec.training.optim import make_optimizer  # noqa: E402
from omnivec.types import to_device  # noqa: E402

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "GH200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
"""Dense bf16 tensor-core peaks (FLOP/s, NVIDIA datasheets, SXM parts); others: the measured matmul rate."""


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, float]] = []

    def step(self, name: str, fn: Callable[[], str]) -> None:
        t = time.perf_counter()
        try:
            status, result = "ok", fn()
        except Exception as e:  # a failed step is reported and the check goes on
            status, result = "FAILED", f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
            traceback.print_exc()
        self.rows.append((name, status, result, time.perf_counter() - t))
        print(f"[{status}] {name}: {result}", flush=True)

    def markdown(self, header: str) -> str:
        lines = [header, "", "| step | status | result | seconds |", "| --- | --- | --- | --- |"]
        lines += [f"| {n} | {s} | {r.replace('|', '/')} | {t:.1f} |" for n, s, r, t in self.rows]
        return "\n".join(lines) + "\n"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, reps: int) -> float:
    """Median seconds of ``fn`` after two warm-up calls."""
    for _ in range(2):
        fn()
    sync(device)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def autocast(device: torch.device) -> Any:
    """What the engine trains under: bf16 autocast on CUDA, fp32 on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def peak_flops(device: torch.device) -> tuple[float, str]:
    """The peak MFU is measured against: the datasheet's for a known GPU, else a large matmul's rate here."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peak in PEAK_BF16.items():
            if key in name.split() or f" {key} " in f" {name} ":
                return peak, f"{name}, bf16 dense datasheet peak {peak / 1e12:.0f} TFLOP/s"
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (512, torch.float32)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    rate = 2 * n**3 / timed(lambda: a @ b, device, 5)
    return rate, f"{device}, measured {dtype} matmul {rate / 1e12:.2f} TFLOP/s"


def model_config(name: str, image: int) -> Any:
    """The quickstart's model (``cpu`` preset), or a base-size one (width 768, depth 12), reading images only."""
    cfg = preset(name).model
    cfg.encoders = {"image": cfg.encoders["image"]}
    task = TaskConfig("bench", "classification", "image", num_classes=10, class_names=[str(i) for i in range(10)])
    task.input_shape = [3, image, image]
    cfg.tasks = [task]
    return cfg


def throughput(cfg: Any, kind: str, batch: int, image: int, device: torch.device, reps: int, peak: float) -> str:
    torch.manual_seed(0)
    omni = OmniModel(cfg)
    module = MaskedAutoencoder(omni, PretrainConfig(mask_ratio={"image": 0.75})) if kind == "pretrain" else omni
    module.to(device).train()
    opt = make_optimizer(module, preset("tiny").train)
    inp = to_device(omni.collate("image", list(torch.rand(batch, 3, image, image))), device)
    y = torch.randint(0, 10, (batch,), device=device)

    def loss() -> torch.Tensor:
        with autocast(device):
            if kind == "pretrain":
                return module.loss("image", inp, 0.75)[0]  # type: ignore[operator]
            return F.cross_entropy(omni("bench", inp).logits.float(), y)

    def step() -> None:
        loss().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    with FlopCounterMode(display=False) as fc:
        loss().backward()
    opt.zero_grad(set_to_none=True)
    flops = fc.get_total_flops()  # forward + backward; the optimizer's elementwise work is not counted
    seconds = timed(step, device, reps)
    params = sum(p.numel() for p in omni.parameters())
    return (
        f"{batch / seconds:,.0f} samples/s (batch {batch}, {image}px, {params / 1e6:.1f}M params, "
        f"{flops / 1e9:.1f} GFLOP/step, MFU {flops / seconds / peak:.1%})"
    )


def bf16_parity(device: torch.device, dry: bool) -> str:
    """Relative error of bf16 autocast's pooled features and logits against fp32 (same weights, same inputs)."""
    cfg = model_config("tiny" if dry else "cpu", 16 if dry else 32)
    torch.manual_seed(0)
    model = OmniModel(cfg).to(device).eval()
    size = 16 if dry else 32
    inp = to_device(model.collate("image", list(torch.rand(8, 3, size, size))), device)
    cast = torch.autocast(device.type, dtype=torch.bfloat16)
    with torch.no_grad():
        ref = model("bench", inp).logits.float()
        with cast:
            low = model("bench", inp).logits.float()
    rel = float((low - ref).norm() / ref.norm().clamp_min(1e-12))
    agree = float((low.argmax(-1) == ref.argmax(-1)).float().mean())
    if rel > 0.05:
        raise AssertionError(f"bf16 logits differ from fp32 by {rel:.3%} (limit 5%)")
    return f"relative error of the logits {rel:.2%} (limit 5%); argmax agrees on {agree:.0%} of 8 samples"


def decoding(device: torch.device, dry: bool, reps: int) -> str:
    B, T, N, V, D, depth = (2, 4, 8, 64, 32, 1) if dry else (32, 32, 64, 8192, 768, 6)
    torch.manual_seed(0)
    dec = TextDecoder(V, D, depth, max(1, D // 64), max_length=T + 1).to(device).eval()
    memory = torch.randn(B, N, D, device=device)
    out = []
    for name, fn in {
        "greedy": lambda: greedy(dec, memory, None, 0, 2, max_len=T, min_len=T),
        "beam 4": lambda: beam_search(dec, memory, None, 0, 2, beam_size=4, max_len=T, min_len=T),
    }.items():
        with torch.no_grad(), autocast(device):
            seconds = timed(fn, device, reps)
        out.append(f"{name} {B * T / seconds:,.0f} tokens/s")
    return f"{', '.join(out)} (batch {B}, {T} new tokens, width {D}, {depth} layers, vocab {V})"


def serve_latency(device: torch.device, dry: bool) -> str:
    import http.client

    from serve_load import free_port, multipart, png_bytes, start_server, untrained_run

    with tempfile.TemporaryDirectory() as tmp:
        run, task = untrained_run(Path(tmp) / "run", "tiny" if dry else "cpu")
        port = free_port()
        proc = start_server(run, port, 1, 0.0, str(device), 0)
        try:
            data, ctype = multipart(png_bytes(32))
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            times = []
            for i in range(5 if dry else 200):
                t = time.perf_counter()
                conn.request("POST", f"/predict/{task}", body=data, headers={"Content-Type": ctype})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError(f"request {i} answered {r.status}")
                times.append(time.perf_counter() - t)
            conn.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    times = sorted(times[1:])  # the first request builds lazily
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    return f"p50 {statistics.median(times) * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms over {len(times)} sequential requests"


def device_tests(device: torch.device, dry: bool) -> str:
    """``pytest -m device`` with the device tests pointed at ``device``; the dry run only collects them."""
    cmd = [sys.executable, "-m", "pytest", "-m", "device", "-q", "-p", "no:cacheprovider", str(REPO / "tests")]
    cmd += ["--collect-only"] if dry else ["--timeout=300"]
    env = {**os.environ, "OMNIVEC_TEST_DEVICE": str(device), "PYTHONPATH": str(REPO / "src")}
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    lines = r.stdout.strip().splitlines() or ["no output"]
    said = [x for x in lines if re.search(r"\b(passed|failed|errors?|collected|selected)\b", x)]
    per_file = [int(m.group(1)) for x in lines if (m := re.match(r"^\S+\.py: (\d+)$", x))]  # -q --collect-only
    summary = said[-1] if said else f"{sum(per_file)} tests collected" if per_file else lines[-1]
    if r.returncode != 0 or (dry and not per_file and not said):
        raise RuntimeError(f"pytest exited {r.returncode}: {summary}; {r.stderr.strip()[-300:]}")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes: check every step in seconds")
    ap.add_argument("--out", help="the markdown table (default: $OUT/gpu_check.md, else results/gpu_check.md)")
    ap.add_argument("--reps", type=int, default=10, help="timed repetitions per measurement (median)")
    a = ap.parse_args(argv)
    default = Path(os.environ["OUT"]) / "gpu_check.md" if os.environ.get("OUT") else REPO / "results/gpu_check.md"
    out = Path(a.out) if a.out else default
    dry = a.dry_run
    reps = 1 if dry else a.reps
    if not dry and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible; use --dry-run to check the steps on the CPU", file=sys.stderr)
        return 2
    device = torch.device("cpu" if dry else "cuda")
    peak, peak_note = peak_flops(device)
    t = Table()
    t.step("device tests (pytest -m device)", lambda: device_tests(device, dry))
    t.step("bf16 autocast vs fp32, quickstart model", lambda: bf16_parity(device, dry))
    models = {"quickstart (cpu preset)": ("tiny", 16, 4) if dry else ("cpu", 32, 256)}
    models["base (768 wide, 12 deep)"] = ("tiny", 16, 2) if dry else ("base", 224, 64)
    for label, (name, image, batch) in models.items():
        for kind in ("train", "pretrain"):

            def measure(name: str = name, kind: str = kind, image: int = image, batch: int = batch) -> str:
                return throughput(model_config(name, image), kind, batch, image, device, reps, peak)

            t.step(f"{kind} step, {label}", measure)
    t.step("decoding (greedy, beam 4)", lambda: decoding(device, dry, reps))
    t.step("serve latency (/predict, batch 1)", lambda: serve_latency(device, dry))
    mode = "dry run on the CPU, tiny shapes: the numbers say nothing" if dry else "bf16 autocast"
    header = f"GPU check ({mode}); torch {torch.__version__}; {peak_note}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(t.markdown(header))
    print(f"wrote {out}")
    return 1 if any(s != "ok" for _, s, _, _ in t.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
