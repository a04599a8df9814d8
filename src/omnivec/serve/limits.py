"""What one client may cost the server: bytes, seconds and connections, each bounded and answered with a 4xx.

- :class:`BodyLimit` (ASGI middleware): a body over ``max_upload_mb`` is refused with 413, by its Content-Length
  before reading or while streaming; a body that has not fully arrived ``body_timeout_s`` after its headers is
  refused with 408 (a client trickling a byte a second used to hold its connection and its request for ever).
- :func:`read_deadline_protocol`: uvicorn's h11 protocol with a deadline on the request *headers*: a connection
  that has not sent a complete request head ``header_timeout_s`` after it opened (or after the first byte of
  its next request) is closed. uvicorn times out only idle keep-alive connections, and no ASGI middleware sees
  a request before its headers are complete, so this has to live in the protocol (the "slowloris" attack).
- :func:`server_config`: the uvicorn config with those and ``keep_alive_s`` / ``max_connections``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from omnivec.serve.uploads import BadRequest


class BodyLimit:
    """ASGI middleware: refuse a request whose body is over ``limit`` bytes with 413, by its Content-Length
    before reading, or while streaming a body sent without one; and one whose body is still incomplete
    ``timeout`` seconds after its headers with 408."""

    def __init__(self, app: Any, limit: int, timeout: float = 60.0) -> None:
        self.app, self.limit, self.timeout = app, limit, timeout

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _send_json(send, 413, f"the request body is {int(length)} bytes; the limit is {self.limit}")
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        seen, done = 0, False

        async def limited() -> dict[str, Any]:
            nonlocal seen, done
            if done:  # the body is in; later receives wait for a disconnect and must not time out
                return dict(await receive())
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:  # a BadRequest: the app's handler answers it as JSON
                raise BadRequest(f"the request body did not arrive within {self.timeout:g} s", 408) from None
            seen += len(message.get("body", b""))
            done = not message.get("more_body", False)
            if seen > self.limit:
                raise BadRequest(f"the request body is over the limit of {self.limit} bytes", 413)
            return dict(message)

        await self.app(scope, limited, send)


async def _send_json(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def read_deadline_protocol(seconds: float) -> type:
    """uvicorn's h11 protocol, closing a connection whose request head is not complete ``seconds`` after the
    connection opened or after the first byte of that request. While the app reads a body, :class:`BodyLimit`
    keeps the time instead (and answers 408); once the response is sent, a body still trickling in is timed
    here again."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class ReadDeadline(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._deadline = self.loop.call_later(seconds, self._too_slow)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            app_reading = self.cycle is not None and not self.cycle.response_complete
            partial = self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not app_reading
            if partial and self._deadline is None:
                self._deadline = self.loop.call_later(seconds, self._too_slow)
            elif not partial:
                self._stop()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop()
            super().connection_lost(exc)

        def _stop(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return ReadDeadline


def server_config(app: Any, cfg: Any, host: str, port: int) -> Any:
    """The ``uvicorn.Config`` of ``omnivec serve``: one process, the limits of ``cfg`` (a ServeConfig)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        http=read_deadline_protocol(cfg.header_timeout_s),
        timeout_keep_alive=cfg.keep_alive_s,
        limit_concurrency=cfg.max_connections,
    )


__all__ = ["BodyLimit", "read_deadline_protocol", "server_config"]
