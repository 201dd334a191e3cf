"""The event sender's lean HTTP/1.1 connection and its poster: answers read whole however the
server frames them, stale keep-alive connections replaced, the transport's retries and errors,
and httpx kept when a proxy applies."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from metered.client.batch_requests import BatchPoster
from metered.client.connection import Connection, ConnectionBroken, Origin
from metered.client.errors import APIConnectionError, InvalidRequestError
from metered.client.retries import RetryPolicy
from metered.client.transport import Transport

# What the scripted server does with a request: answer these bytes, or close without answering.
CLOSE = b""


@dataclass
class ScriptedServer:
    """A raw HTTP/1.1 server on a free port that answers each request with the next step of
    its script (bytes, or CLOSE), then keeps the connection open unless `close_after`."""

    script: list[bytes]
    close_after: bool = False
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (connection, body)
    port: int = 0
    connections: int = 0

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections),
                             daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(buf) < length:
                    buf += conn.recv(65536)
                self.requests.append((number, buf[:length]))
                buf = buf[length:]
                step = self.script.pop(0)
                if step == CLOSE:
                    return
                conn.sendall(step)
                if self.close_after:
                    return


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    listeners: list[socket.socket] = []

    def start(*script: bytes, close_after: bool = False) -> ScriptedServer:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)
        server = ScriptedServer(list(script), close_after, port=listener.getsockname()[1])
        threading.Thread(target=server.serve, args=(listener,), daemon=True).start()
        return server

    yield start
    for listener in listeners:
        listener.close()


def answer(body: bytes, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def poster(port: int, max_retries: int = 0) -> BatchPoster:
    return BatchPoster(f"http://127.0.0.1:{port}", "sk_test_x", "/v1/metered/events/batch",
                       timeout=5, retry_policy=RetryPolicy(max_retries=max_retries),
                       sleep=lambda _: None)


def test_answers_are_read_however_they_are_framed(
        scripted: Callable[..., ScriptedServer]) -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\n{\"a\":\r\n3;ext=1\r\n 1}\r\n0\r\nTrailer: x\r\n\r\n")
    server = scripted(b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b'{"n":1}'), chunked,
                      answer(b'{"n":3}'))
    conn = Connection(Origin.of(f"http://127.0.0.1:{server.port}"), 5, None)
    assert conn.exchange(b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx").body == b'{"n":1}'
    assert conn.exchange(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").body == b'{"a": 1}'
    third = conn.exchange(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert (third.status, third.headers["content-type"], third.body) == (
        200, "application/json", b'{"n":3}')
    assert server.connections == 1 and conn.served == 3 and conn.usable()
    conn.close()


def test_an_answer_to_the_end_of_the_connection(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"n\":2}", close_after=True)
    conn = Connection(Origin.of(f"http://127.0.0.1:{server.port}"), 5, None)
    assert conn.exchange(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").body == b'{"n":2}'
    assert conn.closed and not conn.usable()


def test_a_connection_the_server_closed_while_idle_is_replaced(
        scripted: Callable[..., ScriptedServer]) -> None:
    """The server answers, then closes the keep-alive connection: the next POST goes once on
    the dead connection (nothing answers it) and once more on a new one."""
    server = scripted(answer(b"first"), answer(b"second"), close_after=True)
    post = poster(server.port)
    assert post.post(b"[1]") == b"first"
    assert post.post(b"[2]") == b"second"
    assert server.connections == 2 and [b for _, b in server.requests] == [b"[1]", b"[2]"]
    post.close()


def test_a_fresh_connection_that_breaks_is_a_network_error(
        scripted: Callable[..., ScriptedServer]) -> None:
    """No answer on a new connection: the request may have been applied, so only the retry
    policy may send it again (here: no retries)."""
    server = scripted(CLOSE)
    with pytest.raises(APIConnectionError, match="ConnectionBroken"):
        poster(server.port).post(b"[]")
    assert len(server.requests) == 1


def test_retries_and_errors_follow_the_transports(
        scripted: Callable[..., ScriptedServer]) -> None:
    busy = answer(b'{"error":{"type":"api_error","message":"busy"}}', "503 Service Unavailable",
                  b"Retry-After: 0\r\n")
    refused = answer(b'{"error":{"type":"invalid_request_error","message":"no",'
                     b'"code":"parameter_invalid"}}', "400 Bad Request", b"Request-Id: req_1\r\n")
    server = scripted(busy, CLOSE, answer(b"ok"), refused)
    post = poster(server.port, max_retries=2)
    assert post.post(b"[1]") == b"ok"  # 503, then no answer, then answered
    assert [b for _, b in server.requests] == [b"[1]"] * 3
    with pytest.raises(InvalidRequestError) as err:
        post.post(b"[2]")
    assert (err.value.status, err.value.code, err.value.request_id) == (
        400, "parameter_invalid", "req_1")
    head = (b"POST /v1/metered/events/batch HTTP/1.1", b"Authorization: Bearer sk_test_x",
            b"Content-Type: application/json")
    assert post._head.startswith(head[0]) and all(h in post._head for h in head)
    post.close()


def test_a_broken_answer_is_a_broken_connection(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n")
    conn = Connection(Origin.of(f"http://127.0.0.1:{server.port}"), 5, None)
    with pytest.raises(ConnectionBroken):
        conn.exchange(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert conn.closed


def test_origins_and_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    origin = Origin.of("https://api.example.com/prefix/")
    assert (origin.port, origin.prefix, origin.host_header) == (443, "/prefix", "api.example.com")
    assert Origin.of("http://[::1]:8080").host_header == "[::1]:8080"
    with pytest.raises(ValueError):
        Origin.of("ftp://example.com")
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    transport = Transport("sk_test_x", "http://127.0.0.1:9", timeout=5,
                          retry_policy=RetryPolicy())
    assert isinstance(transport.poster("/p"), BatchPoster)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert not isinstance(transport.poster("/p"), BatchPoster)  # httpx honours the proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert isinstance(transport.poster("/p"), BatchPoster)
    transport.close()


def test_a_server_that_never_answers_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts, never reads
        conn = Connection(Origin.of(f"http://127.0.0.1:{listener.getsockname()[1]}"), 0.3, None)
        with pytest.raises(TimeoutError):
            conn.exchange(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        assert conn.closed
