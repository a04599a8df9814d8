"""Load test of ``omnivec serve`` on loopback: N concurrent clients post an image to ``/predict/{task}`` for a
fixed time, once against a server that batches (``--max-batch 32``) and once against one that does not
(``--max-batch 1``), in the same run; prints throughput, p50/p99 latency and the batched/unbatched ratio.

    python bench/serve_load.py                       # 32 clients, 30 s per mode, a generated untrained run
    python bench/serve_load.py --run runs/demo --task shapes --clients 32 --seconds 10 --device cuda

Each server is a separate ``omnivec serve`` process (as a user runs it); the clients are threads of this
one, each on its own keep-alive connection. Weights do not change the cost of a forward pass, so without
``--run`` the bench saves an untrained model of ``--preset`` with one image classification task (no training
needed to measure serving).
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def untrained_run(out: Path, preset_name: str, image_size: int = 32) -> tuple[Path, str]:
    """A run folder holding an untrained ``preset_name`` model with one 4-class image task."""
    from omnivec.config import TaskConfig, preset
    from omnivec.nn.model import OmniModel
    from omnivec.runs import save_run

    cfg = preset(preset_name)
    cfg.tasks = ["bench"]
    task = TaskConfig("bench", "classification", "image", num_classes=4, class_names=list("abcd"))
    task.input_shape = [3, image_size, image_size]
    cfg.model.tasks = [task]
    save_run(OmniModel(cfg.model), cfg, out)
    return out, "bench"


def png_bytes(size: int = 32, seed: int = 0) -> bytes:
    from PIL import Image

    arr = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(run: Path, port: int, max_batch: int, wait_ms: float, device: str, threads: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch's intra-op threads: spinning ones starve the HTTP loop
    cmd = [sys.executable, "-m", "omnivec", "serve", str(run), "--port", str(port), "--device", device]
    cmd += ["--max-batch", str(max_batch), "--max-wait-ms", str(wait_ms)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return wait_healthy(proc, port, lambda: proc.stderr.read().decode() if proc.stderr else "")


def wait_healthy(
    proc: subprocess.Popen, port: int, stderr: Callable[[], str], seconds: float = 180
) -> subprocess.Popen:
    """``proc`` once the server it runs answers /health; its error output (``stderr()``) if it exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"omnivec serve exited: {stderr()}") from None
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"omnivec serve did not answer /health in {seconds:.0f} s")


def multipart(body: bytes, filename: str = "x.png") -> tuple[bytes, str]:
    """One ``file`` field as a multipart body, built once: the clients should cost as little as possible."""
    b = uuid.uuid4().hex
    head = f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n\r\n'
    return head.encode() + body + f"\r\n--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


def load(port: int, task: str, body: bytes, clients: int, seconds: float) -> tuple[list[float], int]:
    """``clients`` threads, each on its own keep-alive connection, posting for ``seconds`` after a 1 s warm-up:
    latencies of the successful requests and the count of failed ones. (Plain http.client in threads: an
    asyncio httpx client capped this machine at ~40 requests/s, below what the server answers.)"""
    data, ctype = multipart(body)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter() + 1.0
    end = start + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine: list[float] = []
        bad = 0
        while (t := time.perf_counter()) < end:
            conn.request("POST", f"/predict/{task}", body=data, headers={"Content-Type": ctype})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                bad += 1
            elif t >= start:
                mine.append(time.perf_counter() - t)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return latencies, errors[0]


def batch_stats(url: str) -> dict[str, float]:
    import json

    with urllib.request.urlopen(f"{url}/info", timeout=5) as r:
        return dict(json.loads(r.read())["batching"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="a run folder (default: an untrained --preset model with one image task)")
    p.add_argument("--task", help="the task to post to (default: the generated run's)")
    p.add_argument("--preset", default="cpu", help="size of the generated run (cpu: what `omnivec train` trains)")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=30.0, help="measured seconds per mode (after 1 s warm-up)")
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of the server (0: torch's default)")
    a = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if a.run:
            run, task = Path(a.run), a.task
            if not task:
                p.error("--task is needed with --run")
        else:
            run, task = untrained_run(Path(tmp) / "run", a.preset)
        body = png_bytes()
        rows = []
        for name, max_batch in (("batched", a.max_batch), ("unbatched", 1)):
            port = free_port()
            proc = start_server(run, port, max_batch, a.max_wait_ms, a.device, a.threads)
            url = f"http://127.0.0.1:{port}"
            try:
                lat, errors = load(port, task, body, a.clients, a.seconds)
                stats = batch_stats(url)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            ms = np.array(lat) * 1000
            rows.append((name, len(lat), len(lat) / a.seconds, np.percentile(ms, 50), np.percentile(ms, 99), errors))
            print(
                f"{name:9s}  {len(lat):6d} req  {len(lat) / a.seconds:8.1f} req/s  p50 {np.percentile(ms, 50):7.1f} ms"
                f"  p99 {np.percentile(ms, 99):7.1f} ms  errors {errors}  mean batch {stats['mean']}",
                flush=True,
            )
    print(
        f"\n{a.clients} clients, {a.seconds:.0f} s per mode, run {run.name if a.run else a.preset + ' (untrained)'}"
        f", device {a.device}: batched / unbatched throughput = {rows[0][2] / rows[1][2]:.2f}x"
    )


if __name__ == "__main__":
    main()
