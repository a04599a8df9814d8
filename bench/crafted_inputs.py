"""Crafted inputs of every modality through ``omnivec embed`` and ``omnivec serve``, with the peak memory of each
(issue 25, "Done means"): odd sample rates and a 2^31-1 Hz header, 10 minutes of 96 kHz stereo silence, PNG
headers declaring 64 Mpixel, a PNG bomb just under the pixel limit, other image formats named ``.png``, arrays
whose headers declare 2^28 or 2^40 values, texts of 10 MB in one line and 50 MB in one token, videos of huge
frames or 120,000 frames, crafted PLY/OFF files, blank and BOM texts -- and one ordinary input per modality.

    python bench/crafted_inputs.py                    # cpu preset, 32 clients, writes results/reliability/
    python bench/crafted_inputs.py --preset tiny --clients 8 --only wav_8001.wav,eight_k_square.png --no-json
    python bench/crafted_inputs.py --serve-only --no-slow --no-json   # the server's RSS alone, in ~30 s

1. Each input goes through ``omnivec embed RUN --modality M --input FILE`` in its own process. Its peak RSS is
   the ``ru_maxrss`` that ``wait4`` reports, read by a small fresh parent started per input: a child started by
   vfork + exec inherits its parent's peak, so measured from this process (or pytest) it would read high.
2. ``omnivec serve RUN`` gets the corpus from ``--clients`` threads at once, each posting every input once
   (``/embed``, multipart ``file`` + ``modality``), each starting at a different input; then the two long clips
   (a minute of CPU each: bounded in memory, not in time) from ``--slow-clients`` threads. The server's VmRSS is
   read before the load, polled during it (and its VmHWM, reset before the load), and read after each phase.

Outcomes: *clear error* (exit 2 with one error line; a 4xx), *handled* (exit 0; a 2xx), *anything else* (a
traceback, another exit status, a signal; a 5xx or a broken connection). The bars: no input's embed peak above
1 GB, and the server's resident memory back within 200 MB of its start after the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the crafted-file writers the tests use

import crafted_files as cf  # noqa: E402
from data_helpers import CUBE_OFF, sine, write_mp4, write_wav  # noqa: E402

OUTCOMES = ("clear error", "handled", "anything else")
EMBED_BAR_MB = 1024
SERVER_BAR_MB = 200
RESULT = REPO / "results" / "reliability" / "crafted_inputs.json"


@dataclass
class Crafted:
    """One crafted input: its file name, the modality it is given as, what it is crafted to do, its writer."""

    name: str
    modality: str
    what: str
    write: Callable[[Path], object]
    slow: bool = False
    """Costs a minute of CPU or more per request (bounded in memory, not in time): sent by fewer clients."""


def _mp4(n: int, width: int, height: int, fps: int = 1000) -> Callable[[Path], Path]:
    """A clip of ``n`` black ``width`` x ``height`` frames: identical frames cost the encoder a few bytes each."""

    def write(path: Path) -> Path:
        import av

        with av.open(str(path), "w") as out:
            stream = out.add_stream("mpeg4", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
            for _ in range(n):
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        return path

    return write


def _bytes(data: bytes) -> Callable[[Path], int]:
    return lambda path: path.write_bytes(data)


def _png(path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)


def _huge_line(size: int, word: str) -> Callable[[Path], None]:
    """One line of ``size`` bytes: ``word`` repeated (a space inside it makes words, none one token)."""

    def write(path: Path) -> None:
        with open(path, "w") as f:
            block = word * ((1 << 20) // len(word))
            for _ in range(size // len(block)):
                f.write(block)
            f.write("\n")

    return write


def corpus() -> list[Crafted]:
    """Every crafted input, in the order of the table."""
    rate_max = (1 << 31) - 1
    frames = np.random.default_rng(1).integers(0, 255, (12, 32, 48, 3), dtype=np.uint8)
    out = [
        Crafted("tone_16k.wav", "audio", "ordinary: 1 s of 440 Hz", lambda p: write_wav(p, sine(440, 16000), 16000)),
        Crafted("wav_8001.wav", "audio", "1 s at 8001 Hz (was 2.8 GB)", lambda p: cf.wav_with_rate(p, 8001, 8001)),
        Crafted("wav_11127.wav", "audio", "1 s at 11127 Hz (was 3.7 GB)", lambda p: cf.wav_with_rate(p, 11127, 11127)),
        Crafted("wav_2e31.wav", "audio", "header 2^31-1 Hz (was OOM)", lambda p: cf.wav_with_rate(p, rate_max, 16000)),
        Crafted("silence_10min_96k.flac", "audio", "10 min 96 kHz stereo (was 6.7 GB)", cf.silent_flac),
        Crafted("shapes.png", "image", "ordinary: 32x32 RGB", _png),
        Crafted(
            "eight_k_square.png",
            "image",
            "IHDR says 8000x8000 (was ~500 MB)",
            lambda p: cf.png_declaring(p, 8000, 8000),
        ),
        Crafted(
            "bomb_8192x4095.png", "image", "real zeros just under 2^25 pixels", lambda p: cf.png_of_zeros(p, 8192, 4095)
        ),
        Crafted("gray16.png", "image", "16-bit gray (was white in RGB)", cf.gray16_png),
    ]
    out += [
        Crafted(f"{fmt.lower()}_named.png", "image", f"{fmt} bytes named .png", _bytes(cf.other_format(fmt)))
        for fmt in cf.OTHER_FORMATS
    ]
    out += [
        Crafted("clip.mp4", "video", "ordinary: 12 frames 48x32", lambda p: write_mp4(p, frames)),
        Crafted("frames_8000x4600.mp4", "video", "2 frames of 36.8 Mpixel", _mp4(2, 8000, 4600, 10)),
        Crafted("frames_120k.mp4", "video", "120,000 frames of 16x16", _mp4(120_000, 16, 16), slow=True),
        Crafted("frames_20k.mp4", "video", "20,000 frames, under the limits", _mp4(20_000, 16, 16), slow=True),
        Crafted(
            "zeros_2e28.npz",
            "video",
            ".npz of zeros, 2^28 values (was 2.1 GB)",
            lambda p: cf.npz_of_zeros(p, (1024, 512, 512)),
        ),
        Crafted("header_2e40.npy", "points", ".npy header of 2^40 x 3", lambda p: cf.npy_declaring(p, (1 << 40, 3))),
        Crafted("cube.off", "points", "ordinary: a cube", _bytes(CUBE_OFF.encode())),
        Crafted(
            "four_billion.ply",
            "points",
            "header says 4e9 vertices",
            _bytes(
                b"ply\nformat ascii 1.0\nelement vertex 4000000000\nproperty float x\nproperty float y\n"
                b"property float z\nend_header\n0 0 0\n"
            ),
        ),
    ]
    out += [
        Crafted(name, "points", f"crafted: {says}", _bytes(content if isinstance(content, bytes) else content.encode()))
        for name, (content, says) in cf.POINT_FILES.items()
    ]
    out += [
        Crafted("plain.txt", "text", "ordinary: two lines", _bytes(b"the red cat is fast\nblue dog\n")),
        Crafted("bom.txt", "text", "a UTF-8 BOM first", _bytes(b"\xef\xbb\xbfthe red cat\n")),
        Crafted("empty.txt", "text", "empty", _bytes(b"")),
        Crafted("blank.txt", "text", "whitespace only", _bytes(b"  \n\t\n \n")),
        Crafted(
            "line_10mb.txt",
            "text",
            "one 10 MB line of words (was 2.1 GB)",
            _huge_line(10 << 20, "card did not arrive "),
        ),
        Crafted("token_50mb.txt", "text", "one 50 MB token (was SIGABRT)", _huge_line(50 << 20, "x")),
    ]
    return out


def build_corpus(folder: Path, names: set[str] | None = None, no_slow: bool = False) -> list[tuple[Crafted, Path]]:
    """Write the corpus (or the inputs named in ``names``; without the slow ones if ``no_slow``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    items = [c for c in corpus() if (names is None or c.name in names) and not (no_slow and c.slow)]
    for c in items:
        c.write(folder / c.name)
    return [(c, folder / c.name) for c in items]


# ------------------------------------------------------------------------------------------ outcomes


def embed_outcome(rc: int, stderr: str) -> str:
    """Exit 0: handled; exit 2 with one error line and no traceback: a clear error; anything else otherwise."""
    if "Traceback" in stderr:
        return "anything else"
    if rc == 0:
        return "handled"
    if rc == 2 and len([line for line in stderr.splitlines() if "error" in line]) == 1:
        return "clear error"
    return "anything else"


def serve_outcome(status: int | None) -> str:
    """A 4xx: a clear error; a 2xx: handled; a 5xx or no answer (``None``): anything else."""
    if status is not None and 400 <= status < 500:
        return "clear error"
    if status is not None and 200 <= status < 300:
        return "handled"
    return "anything else"


# ------------------------------------------------------------------------------------------ embed


MEASURE = """
import json, os, subprocess, sys, time
cap_kb, timeout, err_path, cmd = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:]
def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
with open(err_path, "wb") as err:
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
killed, t0 = "", time.monotonic()
while True:
    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    if pid:
        break
    if not killed and rss_kb(child.pid) > cap_kb:
        killed = "killed at the RSS cap"
        child.kill()
    elif not killed and time.monotonic() - t0 > timeout:
        killed = "killed at the timeout"
        child.kill()
    time.sleep(0.02)
child.returncode = os.waitstatus_to_exitcode(status)
print(json.dumps({"rc": child.returncode, "peak_kb": usage.ru_maxrss, "killed": killed,
                  "seconds": round(time.monotonic() - t0, 2)}))
"""
"""A fresh parent per input: starts the command, kills it past ``cap_kb`` of RSS or ``timeout`` seconds (the
machine is shared), and prints the child's own peak RSS from wait4."""


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}


def embed_one(
    run: Path, item: Crafted, path: Path, work: Path, cap_mb: int = 4096, timeout: float = 300
) -> dict[str, Any]:
    """``omnivec embed`` of one input in a fresh process: its outcome, exit status, peak RSS and error line."""
    err = work / f"{item.name}.err"
    cmd = [sys.executable, "-m", "omnivec", "embed", str(run), "--modality", item.modality, "--input", str(path)]
    cmd += ["--out", str(work / f"{item.name}.npz"), "--overwrite", "--device", "cpu"]
    argv = [sys.executable, "-c", MEASURE, str(cap_mb * 1024), str(timeout), str(err), *cmd]
    res = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, env=child_env()).stdout)
    stderr = err.read_text(errors="replace")
    lines = [line for line in stderr.splitlines() if line.strip()]
    return {
        "outcome": "anything else" if res["killed"] else embed_outcome(res["rc"], stderr),
        "rc": res["rc"],
        "peak_mb": round(res["peak_kb"] / 1024, 1),
        "seconds": res["seconds"],
        "says": res["killed"] or (lines[-1][:400] if lines else ""),
    }


# ------------------------------------------------------------------------------------------ serve


def status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def start_server(run: Path, port: int, log: Path, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "omnivec", "serve", str(run), "--port", str(port), "--device", "cpu", *extra]
    from serve_load import wait_healthy

    proc = subprocess.Popen(cmd, env=child_env(), stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    return wait_healthy(proc, port, log.read_text)


def post_all(port: int, bodies: list[tuple[Crafted, bytes]], clients: int) -> dict[str, list[int | None]]:
    """``clients`` threads each post every body once to /embed, client k starting at body k: the statuses per
    input (``None``: no answer, e.g. a broken connection)."""
    import httpx

    statuses: dict[str, list[int | None]] = {c.name: [] for c, _ in bodies}
    lock = threading.Lock()

    def client(k: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
            for i in range(len(bodies)):
                c, data = bodies[(k + i) % len(bodies)]
                try:
                    r = http.post("/embed", files={"file": (c.name, data)}, data={"modality": c.modality})
                    status: int | None = r.status_code
                except httpx.HTTPError:
                    status = None
                with lock:
                    statuses[c.name].append(status)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return statuses


def serve_load(
    run: Path,
    items: list[tuple[Crafted, Path]],
    clients: int,
    slow_clients: int,
    work: Path,
    serve_args: list[str] | None = None,
    cap_mb: float = 8192,
) -> dict[str, Any]:
    """The corpus through one ``omnivec serve``: first every input but the slow ones from ``clients`` clients,
    then the slow ones from ``slow_clients``; the statuses per input and the server's RSS (MB) before, at its
    peak, and after each phase (once idle connections are closed). Past ``cap_mb`` the server is killed (the
    machine may be shared) and the rest of its requests fail."""
    from serve_load import free_port

    port = free_port()
    proc = start_server(run, port, work / "serve.log", serve_args or [])
    bodies = [(c, p.read_bytes()) for c, p in items]
    phases = [([b for b in bodies if not b[0].slow], clients), ([b for b in bodies if b[0].slow], slow_clients)]
    done = threading.Event()
    rss_seen = [0.0]
    killed = [False]

    def watch() -> None:
        while not done.is_set() and proc.poll() is None:
            rss_seen[0] = max(rss_seen[0], status_mb(proc.pid, "VmRSS"))
            if rss_seen[0] > cap_mb:
                killed[0] = True
                proc.kill()
            time.sleep(0.05)

    statuses: dict[str, list[int | None]] = {}
    after: list[float] = []
    try:
        time.sleep(2)  # let the loaded server settle
        start = status_mb(proc.pid, "VmRSS")
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        watcher = threading.Thread(target=watch)
        watcher.start()
        t0 = time.perf_counter()
        for phase, n in phases:
            if phase and n:
                statuses |= post_all(port, phase, n)
                time.sleep(6)  # past the 5 s keep-alive: the clients' connections are closed
                after.append(status_mb(proc.pid, "VmRSS") if proc.poll() is None else float("nan"))
        seconds = time.perf_counter() - t0
        done.set()
        watcher.join()
        peak = max(rss_seen[0], status_mb(proc.pid, "VmHWM") if proc.poll() is None else 0.0)
        alive = proc.poll() is None
    finally:
        done.set()
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "statuses": statuses,
        "server": {
            "start_mb": round(start, 1),
            "peak_mb": round(peak, 1),
            "after_mb": round(after[-1], 1),
            "after_each_phase_mb": [round(x, 1) for x in after],
            "alive_after": alive,
            "killed_at_cap_mb": cap_mb if killed[0] else None,
            "clients": clients,
            "slow_clients": slow_clients,
            "slow_inputs": [c.name for c, _ in phases[1][0]],
            "requests": sum(len(s) for s in statuses.values()),
            "seconds": round(seconds, 1),
        },
    }


# ------------------------------------------------------------------------------------------ the run


def train_run(out: Path, preset: str) -> float:
    """A run of ``preset`` with a generated task of every modality, trained 2 steps (the weights do not change
    what an input costs); returns the seconds it took."""
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "omnivec", "train", "--preset", preset, "--tasks", "shapes,topics,tones,motion,solids"]
    cmd += ["--num-train", "16", "--num-test", "8", "--batch-size", "4", "--max-steps", "2", "--quiet"]
    subprocess.run([*cmd, "--out", str(out)], check=True, env=child_env(), stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _statuses(codes: list[int | None]) -> str:
    return " ".join(f"{k if k is not None else 'none'}x{n}" for k, n in sorted(Counter(codes).items(), key=str))


def report(rows: list[dict], server: dict | None) -> dict:
    """Print the table, the counts and the bars; return the summary."""
    print(f"\n{'input':26s} {'modality':8s} {'bytes':>10s}  {'embed':13s} {'peak MB':>8s} {'s':>6s}  serve")
    embedded = [r for r in rows if "embed" in r]  # none with --serve-only
    for r in rows:
        e = r.get("embed", {"outcome": "-", "peak_mb": float("nan"), "seconds": float("nan")})
        serve = _statuses(r["serve"]["statuses"]) + f" ({r['serve']['outcome']})" if "serve" in r else "-"
        print(
            f"{r['input']:26s} {r['modality']:8s} {r['bytes']:>10,d}  {e['outcome']:13s} {e['peak_mb']:8.0f}"
            f" {e['seconds']:6.1f}  {serve}"
        )
    counts: dict[str, dict[str, int]] = {}
    bars: dict[str, Any] = {}
    if embedded:
        counts["embed"] = dict.fromkeys(OUTCOMES, 0)
        for r in embedded:
            counts["embed"][r["embed"]["outcome"]] += 1
        peak = max(r["embed"]["peak_mb"] for r in embedded)
        bars |= {"embed_peak_mb": peak, "embed_peak_below_1gb": peak <= EMBED_BAR_MB}
        print(f"\nembed, per input: {counts['embed']}; highest peak RSS {peak:.0f} MB (bar: {EMBED_BAR_MB} MB)")
    if server is not None:
        counts["serve_requests"] = dict.fromkeys(OUTCOMES, 0)
        counts["serve_inputs"] = dict.fromkeys(OUTCOMES, 0)
        for r in rows:
            for s in r["serve"]["statuses"]:
                counts["serve_requests"][serve_outcome(s)] += 1
            if r["serve"]["outcome"] in OUTCOMES:
                counts["serve_inputs"][r["serve"]["outcome"]] += 1
        growth = server["after_mb"] - server["start_mb"]
        phases = " then ".join(f"{x:.0f}" for x in server["after_each_phase_mb"])
        bars |= {"server_growth_mb": round(growth, 1), "server_back_within_200mb": growth <= SERVER_BAR_MB}
        print(f"serve, per request: {counts['serve_requests']}; per input: {counts['serve_inputs']}")
        print(
            f"server RSS: start {server['start_mb']:.0f} MB, peak {server['peak_mb']:.0f} MB, after each phase"
            f" {phases} MB (+{growth:.0f} MB; bar: {SERVER_BAR_MB} MB); {server['requests']} requests from"
            f" {server['clients']} clients ({server['slow_clients']} for {', '.join(server['slow_inputs'])})"
            f" in {server['seconds']:.0f} s"
        )
    failed = [k for k, v in bars.items() if v is False]
    print("bars: " + ("all met" if not failed else "FAILED " + ", ".join(failed)))
    return {"counts": counts, "bars": bars}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="cpu", help="the run's size (cpu: what `omnivec train` trains by default)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients of the server (0: no server part)")
    p.add_argument("--slow-clients", type=int, default=4, help="clients that send the slow inputs (long clips)")
    p.add_argument("--only", help="comma-separated input names (default: the whole corpus)")
    p.add_argument("--serve-only", action="store_true", help="skip the embed part (per-input peaks): the server only")
    p.add_argument("--no-slow", action="store_true", help="leave out the slow inputs (the two long clips)")
    p.add_argument("--serve-args", default="", help="extra `omnivec serve` options, e.g. '--max-decodes 4'")
    p.add_argument("--out", type=Path, default=RESULT, help="the JSON summary")
    p.add_argument("--no-json", action="store_true", help="print only")
    a = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="crafted-") as tmp:
        work = Path(tmp)
        train_s = train_run(work / "run", a.preset)
        items = build_corpus(work / "inputs", set(a.only.split(",")) if a.only else None, a.no_slow)
        print(f"run: preset {a.preset}, trained in {train_s:.0f} s; {len(items)} crafted inputs", flush=True)
        rows: list[dict[str, Any]] = []
        for c, path in items:
            if a.serve_only:
                rows.append({"input": c.name, "modality": c.modality, "what": c.what, "bytes": path.stat().st_size})
                continue
            e = embed_one(work / "run", c, path, work)
            print(f"  embed {c.name}: {e['outcome']}, {e['peak_mb']:.0f} MB, {e['seconds']:.1f} s", flush=True)
            rows.append(
                {"input": c.name, "modality": c.modality, "what": c.what, "bytes": path.stat().st_size, "embed": e}
            )
        server = None
        if a.clients:
            load = serve_load(work / "run", items, a.clients, a.slow_clients, work, a.serve_args.split())
            server = load["server"]
            for r in rows:
                codes = load["statuses"].get(r["input"], [])
                worst = max((serve_outcome(s) for s in codes), key=OUTCOMES.index, default="not sent")
                r["serve"] = {"statuses": codes, "outcome": worst}
        summary = report(rows, server)
    if a.no_json:
        return
    from omnivec.experiments.ledger import provenance

    for r in rows:  # the status list of every request is long: keep its counts
        if "serve" in r:
            r["serve"]["statuses"] = {str(k): n for k, n in Counter(r["serve"]["statuses"]).items()}
    record = {
        "bench": "bench/crafted_inputs.py",
        "preset": a.preset,
        "provenance": provenance(),
        **summary,
        "server": server,
        "inputs": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
