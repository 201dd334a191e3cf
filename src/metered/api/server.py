"""How every metered process runs uvicorn: one place for the server's options and protocol.

uvicorn writes a response in two `send` calls, the status line and headers, then the body.
On loopback (and for small answers anywhere) each call is a system call that also runs the
receiver's side of TCP: ~22% of a single-event request's CPU went to these two writes. The
protocol below holds the head back until the body comes and sends both in one call
(docs/benchmarks.md). It also serves the single-event fast path (api.fast_events), whose
answers leave together, written without the GIL. Everything else is uvicorn's httptools
protocol unchanged.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from metered.api import limits
from metered.api.fast_events import REQUEST_LINE, http_answer
from metered.api.http import encode_json
from metered.errors import InvalidRequestError
from metered.native import extension


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


class _FastCycle:
    """The cycle of a request `FastEvents` serves: what uvicorn's protocol reads of a request
    cycle (shutdown, connection loss), and the answer once it comes."""

    __slots__ = ("keep_alive", "response_complete", "disconnected")

    class message_event:  # noqa: N801 - what uvicorn sets on a cycle when the connection ends
        @staticmethod
        def set() -> None:
            pass

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.response_complete = False
        self.disconnected = False


class MeteredHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing each response in one send, with the single-event
    fast path (api.fast_events): a read that is one whole `POST /v1/billing/meter_events`
    request, at a request boundary with nothing else in progress on the connection, is served
    without the HTTP parser or ASGI. Bytes that come while it is in progress wait for its
    answer (answers keep the requests' order). Everything else is uvicorn's, unchanged."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Gathering(transport, self.loop))  # type: ignore[arg-type]
        self._raw = transport
        # The socket's descriptor for the fast path's GIL-free writes (_Outgoing), if TCP.
        sock = transport.get_extra_info("socket")
        self._fd = sock.fileno() if _send_all is not None and sock is not None and \
            sock.family in _TCP and transport.get_extra_info("sslcontext") is None else -1
        fast = getattr(self.app, "fast_events", None)
        self._fast = fast if fast is not None and fast.enabled and not self.limit_concurrency \
            else None
        self._in_message = False  # the HTTP parser is inside a request
        self._held: list[bytes] | None = None  # bytes that came during a fast request

    def on_message_begin(self) -> None:
        self._in_message = True
        super().on_message_begin()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request its parser refuses (malformed, or a URL longer than
        httptools takes), in Stripe's error format instead of plain text; then it closes."""
        error = InvalidRequestError(
            f"{msg.rstrip('.')}: malformed HTTP, or a URL longer than {limits.MAX_URL_BYTES}"
            " bytes.")
        body = encode_json(error.to_wire())
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head += (b"content-type: application/json\r\n",
                 b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            held.append(data)
            self.flow.pause_reading()  # a read's worth waits at most; the answer resumes
            return
        fast = self._fast
        cycle = self.cycle
        if (fast is not None and data.startswith(REQUEST_LINE) and not self._in_message
                and (cycle is None or cycle.response_complete) and not self.pipeline):
            request = fast.read(data)
            if request is not None:
                self._unset_keepalive_if_required()
                fast_cycle = _FastCycle(request[2])
                self.cycle = fast_cycle  # type: ignore[assignment]
                self._held = []

                def reply(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
                    self._answer(fast_cycle, status, headers, body)

                fast.serve(request, data, reply)
                return
        super().data_received(data)

    def _answer(self, cycle: _FastCycle, status: int, headers: list[tuple[bytes, bytes]],
                body: bytes) -> None:
        if cycle.disconnected or self.transport.is_closing():
            cycle.response_complete = True
            return
        data = http_answer(status, self.server_state.default_headers, headers, body,
                           cycle.keep_alive)
        _outgoing(self.loop).add(self, cycle, data)

    def answered(self, cycle: _FastCycle) -> None:
        """The answer of a fast request is written (or handed to the transport)."""
        cycle.response_complete = True
        if not cycle.keep_alive:
            self.transport.close()
            return
        self.on_response_complete()
        held, self._held = self._held, None
        if held:
            self.data_received(b"".join(held))


class _Outgoing:
    """The fast path's answers of one turn of the loop, written together by the native
    extension without the GIL (`send_all`: the writer thread runs meanwhile). Writing an
    answer on loopback runs the receiver's TCP stack too: ~12% of the server's GIL time with
    single events when each answer was written holding it. An answer goes through its
    transport instead when the transport has data queued (order), when the socket takes only
    part of it, and without the extension."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.items: list[tuple[MeteredHttpProtocol, _FastCycle, bytes]] = []

    def add(self, protocol: MeteredHttpProtocol, cycle: _FastCycle, data: bytes) -> None:
        if not self.items:
            self.loop.call_soon(self.flush)
        self.items.append((protocol, cycle, data))

    def flush(self) -> None:
        items, self.items = self.items, []
        direct: list[tuple[int, bytes]] = []
        plan: list[tuple[MeteredHttpProtocol, _FastCycle, bytes, int]] = []
        for protocol, cycle, data in items:
            transport = protocol._raw
            if cycle.disconnected or transport.is_closing():  # nothing to write any more
                plan.append((protocol, cycle, b"", -2))
                continue
            fd = protocol._fd
            if fd >= 0 and not transport.get_write_buffer_size():
                plan.append((protocol, cycle, data, len(direct)))
                direct.append((fd, data))
            else:
                plan.append((protocol, cycle, data, -1))
        # On the loop's thread, which alone closes these sockets: each fd is still its own.
        sent = _send_all(direct) if direct else []
        for protocol, cycle, data, at in plan:
            if at == -2:
                cycle.response_complete = True
                continue
            n = sent[at] if at >= 0 else 0
            if n < len(data):
                protocol._raw.write(data[max(n, 0):])
            protocol.answered(cycle)


_TCP = (socket.AF_INET, socket.AF_INET6)
_send_all = extension.send_all if extension is not None else None
_outgoing_by_loop: dict[asyncio.AbstractEventLoop, _Outgoing] = {}


def _outgoing(loop: asyncio.AbstractEventLoop) -> _Outgoing:
    out = _outgoing_by_loop.get(loop)
    if out is None:
        out = _outgoing_by_loop[loop] = _Outgoing(loop)
    return out


def uvicorn_options(log_level: str) -> dict[str, Any]:
    return dict(
        loop="uvloop", http=MeteredHttpProtocol, log_level=log_level.lower(),
        access_log=False, lifespan="on", timeout_graceful_shutdown=30, backlog=4096,
        # Our answers carry their own Server header; nothing reads the client's address, so
        # X-Forwarded-* need no middleware (one layer less around every request).
        server_header=False, proxy_headers=False,
    )
