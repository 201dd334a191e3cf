"""The server's write path (api.server): a response's head and body leave in one send, and
every other shape of exchange still gets its whole answer: HEAD, 100-continue, pipelining, a
connection the server closes."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from metered.api.server import _Gathering

from conftest import Server


class _Recording:
    """A transport that records each write as one send."""

    def __init__(self) -> None:
        self.sends: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sends.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


def _gathering() -> tuple[_Gathering, _Recording, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    inner = _Recording()
    return _Gathering(inner, loop), inner, loop  # type: ignore[arg-type]


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


def test_head_and_body_leave_in_one_send() -> None:
    transport, inner, loop = _gathering()
    try:
        transport.write(HEAD)
        assert inner.sends == []
        transport.write(b"{}")
        assert inner.sends == [HEAD + b"{}"]
        loop.run_until_complete(asyncio.sleep(0))  # the end-of-turn flush finds nothing
        assert inner.sends == [HEAD + b"{}"]
    finally:
        loop.close()


def test_a_head_alone_leaves_at_the_end_of_the_turn_or_on_close() -> None:
    transport, inner, loop = _gathering()
    try:
        transport.write(HEAD)
        loop.run_until_complete(asyncio.sleep(0))
        assert inner.sends == [HEAD]
        transport.write(HEAD)
        transport.close()
        assert inner.sends == [HEAD, HEAD] and inner.closed
    finally:
        loop.close()


def test_other_writes_and_attributes_pass_through() -> None:
    transport, inner, loop = _gathering()
    try:
        transport.write(b"5\r\nhello\r\n")  # a chunk: not a head
        transport.write(b"")
        assert inner.sends == [b"5\r\nhello\r\n"]
        assert transport.get_write_buffer_size() == 0
    finally:
        loop.close()


def _exchange(server: Server, raw: bytes) -> bytes:
    """Send `raw` (its last request asks to close) and read until the server closes."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def _body(response: bytes) -> Any:
    return json.loads(response.partition(b"\r\n\r\n")[2])


def test_head_request_gets_the_get_head_without_a_body(server: Server) -> None:
    get = _exchange(server, b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    answer = _exchange(server, b"HEAD /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n")
    length = int(answer.split(b"content-length: ")[1].split(b"\r\n")[0])
    assert length == len(get.partition(b"\r\n\r\n")[2]) > 0
    # A write route does not answer HEAD: it is a GET, and there is none.
    post_only = _exchange(server, b"HEAD /v1/billing/meter_events HTTP/1.1\r\nhost: x\r\n"
                                  b"connection: close\r\n\r\n")
    assert post_only.startswith(b"HTTP/1.1 400 ")


def test_pipelined_requests_are_answered_in_order(server: Server) -> None:
    one = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"
    last = b"GET /v1/nothing-here HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    answer = _exchange(server, one + one + last)
    parts = answer.split(b"HTTP/1.1 ")[1:]
    assert [p[:3] for p in parts] == [b"200", b"200", b"404"]


def test_expect_100_continue(server: Server) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    body = b"name=transport"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/customers HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
                     b"authorization: Bearer " + server.key.encode() + b"\r\n"
                     b"content-type: application/x-www-form-urlencoded\r\n"
                     b"content-length: " + str(len(body)).encode() + b"\r\n"
                     b"connection: close\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        data = first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")
    assert _body(data)["name"] == "transport"
