"""The HTTP protocol's fast path for event routes (api.server.MeteredHttpProtocol): a v1 meter
event served without an ASGI task must answer exactly as the ASGI path does, keep pipelined
answers in order, honour `Connection: close`, refuse an oversized body, and count an event
whose client went away before its answer."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from conftest import Server


@dataclass
class Meter:
    server: Server
    key: str
    customer: str
    event_name: str

    def form(self, identifier: str, value: int = 1) -> bytes:
        return urlencode({"event_name": self.event_name, "identifier": identifier,
                          "payload[stripe_customer_id]": self.customer,
                          "payload[value]": str(value)}).encode()

    def request(self, body: bytes, *, version: bytes = b"HTTP/1.1", extra: bytes = b"",
                path: bytes = b"/v1/billing/meter_events") -> bytes:
        return (b"POST " + path + b" " + version + b"\r\nhost: x\r\n"
                b"authorization: Bearer " + self.key.encode() + b"\r\n"
                b"content-type: application/x-www-form-urlencoded\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)

    def total(self) -> int:
        with self.server.client(self.key) as http:
            meter_id = next(m["id"] for m in http.get("/v1/billing/meters").json()["data"]
                            if m["event_name"] == self.event_name)
            now = int(time.time())
            response = http.get(f"/v1/billing/meters/{meter_id}/event_summaries", params={
                "customer": self.customer, "start_time": (now - 86_400) // 60 * 60,
                "end_time": (now // 60 + 10) * 60})
            assert response.status_code == 200, response.text
            summaries = response.json()["data"]
        return sum(int(s["aggregated_value"]) for s in summaries)


@pytest.fixture(scope="module")
def meter(server: Server) -> Iterator[Meter]:
    key = server.new_account_key()
    with server.client(key) as http:
        customer = http.post("/v1/customers", data={"name": "fast"}).json()["id"]
        http.post("/v1/billing/meters", data={
            "display_name": "Fast", "event_name": "fast_units",
            "default_aggregation[formula]": "sum"}).raise_for_status()
    yield Meter(server, key, customer, "fast_units")


def _connect(server: Server) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_answer(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], Any]:
    """One response off a keep-alive connection (content-length framed); the rest stays in
    `buffer`."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    buffer[:] = body[length:]
    return status, headers, json.loads(bytes(body[:length]))


def test_the_fast_path_answers_as_the_asgi_path_does(meter: Meter) -> None:
    # HTTP/1.0 is left to the ASGI path: the same event shape, status and headers.
    with _connect(meter.server) as fast, _connect(meter.server) as asgi:
        buf_fast, buf_asgi = bytearray(), bytearray()
        fast.sendall(meter.request(meter.form("same-1", 5)))
        asgi.sendall(meter.request(meter.form("same-2", 5), version=b"HTTP/1.0"))
        s1, h1, b1 = _read_answer(fast, buf_fast)
        s2, h2, b2 = _read_answer(asgi, buf_asgi)
    assert s1 == s2 == 200
    assert set(h1) - {"connection"} == set(h2) - {"connection"}
    for name in ("content-type", "stripe-version", "server"):
        assert h1[name] == h2[name]
    assert h1["request-id"] != h2["request-id"] and h1["request-id"].startswith("req_")
    assert "commit;dur=" in h1["server-timing"] and "date" in h1
    assert {k: v for k, v in b1.items() if k not in ("identifier", "created")} == \
           {k: v for k, v in b2.items() if k not in ("identifier", "created")}
    assert b1["identifier"] == "same-1" and b1["object"] == "billing.meter_event"


def test_errors_and_duplicates_on_the_fast_path(meter: Meter) -> None:
    with _connect(meter.server) as sock:
        buf = bytearray()
        sock.sendall(meter.request(meter.form("dup-1")))
        assert _read_answer(sock, buf)[0] == 200
        sock.sendall(meter.request(meter.form("dup-1")))
        status, _, body = _read_answer(sock, buf)
        assert status == 400 and body["error"]["code"] == "duplicate_meter_event"
        sock.sendall(meter.request(b"event_name=nope&payload[value]=1"))
        status, _, body = _read_answer(sock, buf)
        assert status == 400 and body["error"]["type"] == "invalid_request_error"
        bad_key = meter.request(meter.form("dup-2")).replace(meter.key.encode(), b"sk_test_no")
        sock.sendall(bad_key)
        status, _, body = _read_answer(sock, buf)
        assert status == 401 and body["error"]["type"] == "authentication_error"
        sock.sendall(meter.request(meter.form("dup-3")))  # the connection is still good
        assert _read_answer(sock, buf)[0] == 200


def test_pipelined_requests_are_answered_in_order(meter: Meter) -> None:
    batch = (meter.request(meter.form("pipe-1", 2)) + meter.request(meter.form("pipe-2", 3))
             + b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"
             + meter.request(meter.form("pipe-1", 2)))
    with _connect(meter.server) as sock:
        buf = bytearray()
        sock.sendall(batch)
        answers = [_read_answer(sock, buf) for _ in range(4)]
    assert [a[0] for a in answers] == [200, 200, 200, 400]
    assert answers[0][2]["identifier"] == "pipe-1" and answers[1][2]["identifier"] == "pipe-2"
    assert answers[2][2] == {"status": "ok"} or "status" in answers[2][2]
    assert answers[3][2]["error"]["code"] == "duplicate_meter_event"


def test_connection_close_is_honoured(meter: Meter) -> None:
    with _connect(meter.server) as sock:
        sock.sendall(meter.request(meter.form("close-1"), extra=b"connection: close\r\n"))
        data = b""
        while chunk := sock.recv(65536):  # the server closes after the answer
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and b"\r\nconnection: close\r\n" in data


def test_an_oversized_body_is_refused_and_the_connection_goes_on(meter: Meter) -> None:
    body = b"event_name=fast_units&payload[value]=1&pad=" + b"x" * (1 << 20)
    with _connect(meter.server) as sock:
        buf = bytearray()
        sock.sendall(meter.request(body))
        status, _, answer = _read_answer(sock, buf)
        assert status == 413 and answer["error"]["code"] == "request_too_large"
        sock.sendall(meter.request(meter.form("after-413")))
        assert _read_answer(sock, buf)[0] == 200


def test_an_event_whose_client_left_is_counted_once(meter: Meter) -> None:
    before = meter.total()
    with _connect(meter.server) as sock:
        sock.sendall(meter.request(meter.form("gone-1", 7)))
    # The answer had nowhere to go; the event was handed over all the same, and a retry with
    # its identifier is a duplicate.
    deadline = time.monotonic() + 10
    while meter.total() != before + 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert meter.total() == before + 7
    with httpx.Client(base_url=meter.server.base_url, auth=(meter.key, "")) as http:
        retry = http.post("/v1/billing/meter_events", content=meter.form("gone-1", 7),
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert retry.status_code == 400 and retry.json()["error"]["code"] == "duplicate_meter_event"
    assert meter.total() == before + 7
