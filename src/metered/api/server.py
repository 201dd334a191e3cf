"""How every metered process runs uvicorn: one place for the server's options.

uvicorn writes a response in two `send` calls, the status line and headers, then the body.
On loopback (and for small answers anywhere) each call is a system call that also runs the
receiver's side of TCP: ~22% of a single-event request's CPU went to these two writes, on the
event loop's thread, holding the GIL. The protocol below holds the head back until the body
comes, and hands both, as one write, to the native response sender (native/src/sender.rs): a
thread that makes the system calls without the GIL, on the other core. Without the native
extension (or on TLS) it writes them to the transport itself. Everything else is uvicorn's
httptools protocol unchanged (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from metered.native import extension

_sender: Any = None


def response_sender() -> Any:
    """The process's native response sender (started on first use), or None without the
    native extension."""
    global _sender  # noqa: PLW0603 - one sender thread per process
    if _sender is None and extension is not None:
        _sender = extension.ResponseSender()
    return _sender


def drain_responses(timeout: float = 5.0) -> bool:
    """Waits until every answer handed to the sender is written (at shutdown)."""
    return _sender is None or bool(_sender.drain(timeout))


class _Gathering:
    """A transport that holds a response's status line and headers until its body comes, to
    write both at once (at the latest at the end of the loop's turn: e.g. HEAD, no body), and
    writes through the native sender when there is one."""

    __slots__ = ("_transport", "_loop", "_head", "_sender", "_conn")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop,
                 sender: Any = None):
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._sender = None
        self._conn = 0
        sock = transport.get_extra_info("socket")
        if sender is not None and sock is not None and \
                transport.get_extra_info("sslcontext") is None:
            self._conn = sender.open(sock.fileno())
            self._sender = sender

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._out(head + data)
        elif data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n"):
            self._head = data
            self._loop.call_soon(self._flush)
        elif data:
            self._out(data)

    def _out(self, data: bytes) -> None:
        if self._sender is not None:
            self._sender.send(self._conn, data)
        elif not self._transport.is_closing():
            self._transport.write(data)

    def _flush(self) -> None:
        head, self._head = self._head, None
        if head is not None:
            self._out(head)

    def release(self) -> None:
        """The connection is over: the sender closes its descriptor after what is queued."""
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.close(self._conn)

    def close(self) -> None:
        self._flush()
        self.release()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _NoEvent:
    """What uvicorn sets on a connection's cycle when the connection is lost."""

    @staticmethod
    def set() -> None:
        pass


class _Prepared:
    """The cycle of a request the fast path serves: the attributes uvicorn's protocol reads
    of a RequestResponseCycle (pipelining, shutdown, connection loss), the body as it comes,
    and the answer (called by App.run_prepared, on the loop)."""

    __slots__ = ("protocol", "route", "headers", "body", "size", "keep_alive",
                 "response_complete", "disconnected")
    message_event = _NoEvent

    def __init__(self, protocol: MeteredHttpProtocol, route: Any,
                 headers: list[tuple[bytes, bytes]], keep_alive: bool):
        self.protocol: MeteredHttpProtocol | None = protocol
        self.route = route
        self.headers = headers
        self.body: list[bytes] = []
        self.size = 0
        self.keep_alive = keep_alive
        self.response_complete = False
        self.disconnected = False

    def __call__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        protocol, self.protocol = self.protocol, None
        self.response_complete = True
        if protocol is not None and not self.disconnected:
            protocol.answer_prepared(self, status, headers, body)


class MeteredHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing each response in one send, with a fast path:
    a request for an event route (`App.prepared_route`: e.g. POST /v1/billing/meter_events)
    is served without an ASGI scope, task or messages. `App.run_prepared` validates it when
    its body has come and answers through a callback once the group commit is durable.
    Everything else, and any request the fast path does not take (HTTP/1.0, Expect,
    pipelined behind another, an Idempotency-Key), goes through ASGI unchanged."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        gathering = _Gathering(transport, self.loop, response_sender())
        super().connection_made(gathering)  # type: ignore[arg-type]
        self._prepared_route = getattr(self.app, "prepared_route", None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.transport.release()  # type: ignore[attr-defined]

    def on_headers_complete(self) -> None:
        route = None
        cycle = self.cycle
        if (self._prepared_route is not None and not self.expect_100_continue
                and (cycle is None or cycle.response_complete) and not self.pipeline
                and self.limit_concurrency is None and not self.parser.should_upgrade()
                and self.parser.get_http_version() == "1.1"):
            route = self._prepared_route(self.parser.get_method(), self.url, self.headers)
        if route is None:
            super().on_headers_complete()
        else:
            self.cycle = _Prepared(self, route, self.headers,  # type: ignore[assignment]
                                   self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if type(cycle) is _Prepared:
            cycle.size += len(body)
            if cycle.size <= cycle.route.max_body:  # past it: counted, not kept (a 413)
                cycle.body.append(body)
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if type(cycle) is _Prepared:
            body = cycle.body[0] if len(cycle.body) == 1 else b"".join(cycle.body)
            self.app.run_prepared(cycle.route, cycle.headers, body, cycle.size, cycle)
        else:
            super().on_message_complete()

    def answer_prepared(self, cycle: _Prepared, status: int,
                        headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """Write a fast-path answer as uvicorn's cycle would, then what follows a response
        (the next pipelined request, or the keep-alive timer)."""
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend((name, b": ", value, b"\r\n"))
        for name, value in headers:
            content.extend((name, b": ", value, b"\r\n"))
        if not cycle.keep_alive:
            content.append(b"connection: close\r\n")
        content.extend((b"\r\n", body))
        self.transport.write(b"".join(content))
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()


def uvicorn_options(log_level: str) -> dict[str, Any]:
    return dict(
        loop="uvloop", http=MeteredHttpProtocol, log_level=log_level.lower(),
        access_log=False, lifespan="on", timeout_graceful_shutdown=30, backlog=4096,
        # Our answers carry their own Server header; nothing reads the client's address, so
        # X-Forwarded-* need no middleware (one layer less around every request).
        server_header=False, proxy_headers=False,
    )
