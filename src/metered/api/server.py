"""How every metered process runs uvicorn: one place for the server's options.

uvicorn writes a response in two `send` calls, the status line and headers, then the body.
On loopback (and for small answers anywhere) each call is a system call that also runs the
receiver's side of TCP: ~22% of a single-event request's CPU went to these two writes. The
protocol below holds the head back until the body comes and sends both in one call
(docs/benchmarks.md); everything else is uvicorn's httptools protocol unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _Gathering:
    """A transport that holds a response's status line and headers until its body comes, to
    send both at once (at the latest at the end of the loop's turn: e.g. HEAD, no body)."""

    __slots__ = ("_transport", "_loop", "_head")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n"):
            self._head = data
            self._loop.call_soon(self._flush)
        elif data:
            self._transport.write(data)

    def _flush(self) -> None:
        head, self._head = self._head, None
        if head is not None and not self._transport.is_closing():
            self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GatheringHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing each response in one send."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Gathering(transport, self.loop))  # type: ignore[arg-type]


def uvicorn_options(log_level: str) -> dict[str, Any]:
    return dict(
        loop="uvloop", http=GatheringHttpToolsProtocol, log_level=log_level.lower(),
        access_log=False, lifespan="on", timeout_graceful_shutdown=30, backlog=4096,
        # Our answers carry their own Server header; nothing reads the client's address, so
        # X-Forwarded-* need no middleware (one layer less around every request).
        server_header=False, proxy_headers=False,
    )
