"""What the server holds at once (issue 25): at most ``max_decodes`` uploads decode together, and the C heap is
trimmed after each decode and each batch. 32 clients sending legal 32 Mpixel PNGs used to decode 32 of them at
once (4.3 GB); bench/crafted_inputs.py --serve-only measures the whole corpus.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from omnivec.serve import app as app_module
from omnivec.serve import memory, service
from omnivec.serve.memory import DecodeGate
from test_serve_limits import _request, serving, tiny_run


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("memory") / "run", "shapes")


def _png_body() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buf, format="PNG")
    return json.dumps({"data_base64": base64.b64encode(buf.getvalue()).decode(), "filename": "a.png"}).encode()


@pytest.mark.parametrize("max_decodes", [1, 3])
def test_uploads_decode_at_most_max_decodes_at_a_time(
    image_run: Path, monkeypatch: pytest.MonkeyPatch, max_decodes: int
) -> None:
    """Eight clients at once, each decode held 0.3 s: never more than ``max_decodes`` decode together (and with
    3 allowed, more than one does: the counter sees overlap when there is some). Every request still answers."""
    real, lock = app_module.decode, threading.Lock()
    now, most = [0], [0]

    def counted(*args: Any) -> Any:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        try:
            time.sleep(0.3)
            return real(*args)
        finally:
            with lock:
                now[0] -= 1

    monkeypatch.setattr(app_module, "decode", counted)
    trims = [0]
    monkeypatch.setattr(memory, "trim", lambda: trims.__setitem__(0, trims[0] + 1) or True)
    monkeypatch.setattr(service, "trim", lambda: trims.__setitem__(0, trims[0] + 1) or True)
    with serving(image_run, max_decodes=max_decodes) as addr:
        body, statuses = _png_body(), []
        clients = [
            threading.Thread(target=lambda: statuses.append(_request(addr, "POST", "/embed", body)[0]))
            for _ in range(8)
        ]
        for c in clients:
            c.start()
        for c in clients:
            c.join(60)
        info = _request(addr, "GET", "/info")[1]
    assert statuses == [200] * 8
    assert most[0] == max_decodes  # 8 clients, 0.3 s each: the gate is full, never over
    assert info["limits"]["max_decodes"] == max_decodes and info["limits"]["most_decoding"] == max_decodes
    assert trims[0] >= 8 + 1  # after each decode, and after each batch


def test_decode_gate_bounds_concurrent_calls() -> None:
    """The gate alone: 6 calls of 0.05 s through a gate of 2 overlap two at a time, never three."""
    gate, lock, now, most = DecodeGate(2), threading.Lock(), [0], [0]

    def work(i: int) -> int:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.05)
        with lock:
            now[0] -= 1
        return i

    async def main() -> list[int]:
        return list(await asyncio.gather(*(gate.run(work, i) for i in range(6))))

    assert asyncio.run(main()) == list(range(6))
    assert most[0] == 2 and gate.most == 2 and gate.active == 0
    with pytest.raises(ValueError, match="max_decodes"):
        DecodeGate(0)


def test_trim_calls_glibc_malloc_trim_or_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Linux with glibc, ``trim`` calls ``malloc_trim(0)``; elsewhere (no such symbol) it is a no-op."""
    import platform

    memory._malloc_trim.cache_clear()
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert memory.trim() is glibc
    monkeypatch.setattr(sys, "platform", "darwin")
    memory._malloc_trim.cache_clear()
    try:
        assert memory.trim() is False
    finally:
        monkeypatch.undo()
        memory._malloc_trim.cache_clear()
