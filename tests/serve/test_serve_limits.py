"""The server under slow and idle clients (issue 25), through a real uvicorn server on a loopback port: the
timeouts live in the HTTP protocol and the ASGI middleware, where FastAPI's TestClient never goes.

Connections that trickle a request head are closed ``header_timeout_s`` after they opened (100 of them used to
stay open after 20 s); a body still incomplete ``body_timeout_s`` after its headers gets 408; an idle
keep-alive connection is closed after ``keep_alive_s``; and the server answers normally all along.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import uvicorn

from omnivec.serve.app import create_app
from omnivec.serve.limits import server_config
from omnivec.serve.service import ServeConfig

TIMEOUT = 0.6


def tiny_run(out: Path, task: str) -> Path:
    """A run folder of the tiny preset trained 2 steps on one generated task: a model to serve."""
    from omnivec.api.train import train
    from omnivec.config import preset

    cfg = preset("tiny")
    cfg.tasks, cfg.num_train, cfg.num_test = [task], 16, 8
    cfg.train.max_steps, cfg.train.batch_size = 2, 4
    train(cfg, out, progress=False)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("limits") / "run", "topics")


@contextmanager
def serving(run: Path, **limits: Any) -> Iterator[tuple[str, int]]:
    """A real uvicorn server for ``run`` on a free loopback port, with these ServeConfig limits."""
    scfg = ServeConfig(device="cpu", **limits)
    srv = uvicorn.Server(server_config(create_app(run, scfg), scfg, "127.0.0.1", 0))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield "127.0.0.1", srv.servers[0].sockets[0].getsockname()[1]
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(run: Path) -> Iterator[tuple[str, int]]:
    with serving(run, header_timeout_s=TIMEOUT, body_timeout_s=TIMEOUT, keep_alive_s=1) as addr:
        yield addr


def _connect(addr: tuple[str, int]) -> socket.socket:
    s = socket.create_connection(addr, timeout=5)
    return s


def _closed_within(s: socket.socket, seconds: float, trickle: bytes = b"") -> float:
    """Seconds until the server closes ``s`` while we send ``trickle`` a byte at a time; fails after ``seconds``."""
    start = time.monotonic()
    s.settimeout(0.05)
    for i in range(10_000):
        if time.monotonic() - start > seconds:
            raise AssertionError(f"still open after {seconds} s")
        try:
            if trickle:
                s.send(trickle[i % len(trickle) : i % len(trickle) + 1])
            if s.recv(4096) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except OSError:  # reset by the server
            return time.monotonic() - start
    raise AssertionError("unreachable")


def _response(s: socket.socket) -> tuple[int, Any]:
    """Status and body (JSON where it is) of one response read off ``s``: the head, then Content-Length bytes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(ln.split(b":")[1]) for ln in head.lower().split(b"\r\n") if ln.startswith(b"content-length"))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    try:
        return int(head.split(b" ", 2)[1]), json.loads(body)
    except ValueError:
        return int(head.split(b" ", 2)[1]), body.decode()


def _request(addr: tuple[str, int], method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
    with _connect(addr) as s:
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        s.sendall(head.encode() + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        return _response(s)


def test_connections_trickling_a_request_head_are_closed(server: tuple[str, int]) -> None:
    sockets = [_connect(server) for _ in range(20)]
    for s in sockets:
        s.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\n")
    took = [_closed_within(s, 5 * TIMEOUT, trickle=b"X-Slow: 1\r\n") for s in sockets[:3]]
    took += [_closed_within(s, 5 * TIMEOUT) for s in sockets[3:]]
    assert max(took) < 5 * TIMEOUT
    silent = _connect(server)  # a connection that never sends a byte
    assert _closed_within(silent, 5 * TIMEOUT) >= TIMEOUT * 0.8
    for s in [*sockets, silent]:
        s.close()
    assert _request(server, "GET", "/health")[0] == 200


def test_a_body_that_does_not_arrive_in_time_is_a_408(server: tuple[str, int]) -> None:
    with _connect(server) as s:
        s.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        s.sendall(b'{"text": "')
        s.settimeout(5 * TIMEOUT)
        status, body = _response(s)
    assert status == 408 and "did not arrive within" in body["error"], body
    status, body = _request(server, "POST", "/predict/topics", b'{"text": "still serving"}')
    assert status == 200 and body["task"] == "topics"


def test_an_idle_keep_alive_connection_is_closed(server: tuple[str, int]) -> None:
    with _connect(server) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        assert 0.5 < _closed_within(s, 5) < 4  # keep_alive_s = 1


def test_connections_beyond_the_limit_get_503_until_some_close(run: Path) -> None:
    with serving(run, max_connections=3, header_timeout_s=TIMEOUT) as addr:
        idle = [_connect(addr) for _ in range(3)]
        time.sleep(0.1)
        status, body = _request(addr, "GET", "/health")
        assert status == 503, body
        for s in idle:
            _closed_within(s, 5 * TIMEOUT)  # the header timeout frees them
            s.close()
        assert _request(addr, "GET", "/health")[0] == 200


def test_info_lists_the_limits(server: tuple[str, int]) -> None:
    status, info = _request(server, "GET", "/info")
    assert status == 200
    assert info["limits"]["header_timeout_s"] == TIMEOUT and info["limits"]["max_text_kb"] == 256.0


def test_limits_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "reliability.md").read_text()
    for name in ("header_timeout_s", "body_timeout_s", "keep_alive_s", "max_connections", "max_text_kb", "max_decodes"):
        assert name in doc, name
