"""The single-event fast path (api.fast_events, native/src/form.rs) answers exactly as the HTTP
server and ASGI app do, and hands them every request it does not take.

Each case is sent twice over a raw socket: once whole in one write (the fast path takes it)
and once in two writes, the head then the body (the fast path sees a partial request and the
HTTP parser gets it). The answers must match byte for byte except for what differs by nature:
the request id, the `created` time, the Date and Server-Timing headers.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from test_server_transport import _exchange

from metered.api.responses import server_timing, writer_timing
from metered.ingest.writer import WriteRequest
from metered.native import extension

from conftest import Server

pytestmark = pytest.mark.skipif(extension is None, reason="the native extension is not built")

PATH = b"/v1/billing/meter_events"


def _request(key: str, body: bytes, *, headers: tuple[str, ...] = (),
             content_type: str = "application/x-www-form-urlencoded") -> bytes:
    head = [f"POST {PATH.decode()} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {key}",
            f"Content-Type: {content_type}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _read_answer(sock: socket.socket, buffer: bytearray) -> bytes:
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before an answer")
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
    total = len(head) + 4 + length
    while len(buffer) < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-answer")
        buffer += chunk
    answer = bytes(buffer[:total])
    del buffer[:total]
    return answer


def _send(server: Server, writes: list[bytes], answers: int = 1, gap: float = 0.05
          ) -> list[bytes]:
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, data in enumerate(writes):
            sock.sendall(data)
            if i < len(writes) - 1 and gap:
                time.sleep(gap)  # separate reads on the server
        buffer = bytearray()
        return [_read_answer(sock, buffer) for _ in range(answers)]


def _normal(answer: bytes) -> tuple[bytes, list[bytes], Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    volatile = (b"date:", b"request-id:", b"server-timing:", b"content-length:",
                b"metered-consistency-token:")  # distributed mode: the log position
    headers = sorted(line.lower() for line in lines if not line.lower().startswith(volatile))
    data = json.loads(body)
    if isinstance(data, dict):
        data.pop("created", None)
    return status, headers, data


def _both_ways(server: Server, request: bytes) -> tuple[bytes, bytes]:
    """(answer of the request in one write, answer of the same request in two writes)."""
    assert _reads(request) is not None  # one write: the fast path's
    split = request.index(b"\r\n\r\n") + 4
    fast = _send(server, [request])[0]
    slow = _send(server, [request[:split], request[split:]])[0]
    return fast, slow


@pytest.fixture
def meter(server: Server) -> dict[str, Any]:
    """A fresh account, a sum meter with a dimension, and a customer."""
    key = server.new_account_key()
    name = f"tokens_{time.time_ns()}"
    with server.client(key) as account:
        created = account.post("/v1/billing/meters", data={
            "display_name": "Tokens", "event_name": name,
            "default_aggregation[formula]": "sum", "dimension_payload_keys[0]": "model",
        })
        assert created.status_code == 200, created.text
        customer = account.post("/v1/customers", data={"name": "C"}).json()["id"]
    return {"id": created.json()["id"], "event_name": name, "customer": customer, "key": key,
            "ts": str(int(time.time()) - 10)}


def _form(meter: dict[str, Any], identifier: str, **extra: str) -> bytes:
    fields = {"event_name": meter["event_name"], "identifier": identifier,
              "payload[stripe_customer_id]": meter["customer"], "payload[value]": "7",
              "payload[model]": "m1",
              "timestamp": meter["ts"],  # one per test: both paths' answers the same
              **extra}
    from urllib.parse import quote  # noqa: PLC0415

    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in fields.items()
                    if v is not None).encode()


CASES: dict[str, Callable[[dict[str, Any], str], bytes]] = {
    "accepted": lambda m, i: _form(m, i),
    "unknown meter": lambda m, i: _form(m, i, event_name="nope"),
    "unknown customer": lambda m, i: _form(m, i, **{"payload[stripe_customer_id]": "cus_x"}),
    "bad value": lambda m, i: _form(m, i, **{"payload[value]": "1.2.3"}),
    "fractional value": lambda m, i: _form(m, i, **{"payload[value]": "0.25"}),
    "timestamp too old": lambda m, i: _form(m, i, timestamp="1000000000"),
    "timestamp in the future": lambda m, i: _form(m, i, timestamp=str(int(time.time()) + 3600)),
    "timestamp not a number": lambda m, i: _form(m, i, timestamp="soon"),
    "iso timestamp": lambda m, i: _form(m, i, timestamp="2026-01-01T00:00:00Z"),
    "no event name": lambda m, i: _form(m, i, event_name=""),
    "long identifier": lambda m, i: _form(m, "x" * 300),
    "non-ascii dimension": lambda m, i: _form(m, i, **{"payload[model]": "modèle ✓"}),
    "unicode digits key": lambda m, i: _form(m, i, **{"payload[²]": "1"}),
    "unknown parameter": lambda m, i: _form(m, i, expand="x"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_answers_match_the_asgi_path(server: Server, meter: dict[str, Any], case: str) -> None:
    make = CASES[case]
    fast, slow = _both_ways_ids(server, meter, make)
    assert _normal(fast) == _normal(slow)
    if case not in ("unknown parameter", "unicode digits key"):  # left to the HTTP parser
        assert _reads(_request(meter["key"], make(meter, "x"))) is not None


def _both_ways_ids(server: Server, meter: dict[str, Any],
                   make: Callable[[dict[str, Any], str], bytes]) -> tuple[bytes, bytes]:
    # Distinct identifiers: each path's event is new (a duplicate is its own case below).
    tag = time.time_ns()
    whole = _request(meter["key"], make(meter, f"f{tag}"))
    fast = _send(server, [whole])[0]
    request = _request(meter["key"], make(meter, f"s{tag}"))
    split = request.index(b"\r\n\r\n") + 4
    slow = _send(server, [request[:split], request[split:]])[0]
    # The identifiers differ by design; compare the rest.
    return fast.replace(f"f{tag}".encode(), b"ID"), slow.replace(f"s{tag}".encode(), b"ID")


def test_duplicates_are_rejected_the_same_way(server: Server, meter: dict[str, Any]) -> None:
    request = _request(meter["key"], _form(meter, f"dup{time.time_ns()}"))
    first, again_slow = _both_ways(server, request)  # the second is a duplicate
    again_fast = _send(server, [request])[0]
    assert first.startswith(b"HTTP/1.1 200 ")
    assert _normal(again_fast) == _normal(again_slow)
    assert json.loads(again_fast.partition(b"\r\n\r\n")[2])["error"]["code"] == \
        "duplicate_meter_event"


def test_authentication_errors_match(server: Server, meter: dict[str, Any]) -> None:
    fast, slow = _both_ways(server, _request("sk_test_nope", _form(meter, "x")))
    assert fast.startswith(b"HTTP/1.1 401 ")
    assert _normal(fast) == _normal(slow)


def test_idempotency_key_replays_and_conflicts(server: Server, meter: dict[str, Any]) -> None:
    key = f"idem-{time.time_ns()}"
    body = _form(meter, None)  # type: ignore[arg-type] - no identifier: derived from the key
    request = _request(meter["key"], body, headers=(f"Idempotency-Key: {key}",))
    first = _send(server, [request])[0]
    replay_fast, replay_slow = _both_ways(server, request)
    assert first.startswith(b"HTTP/1.1 200 ")
    for replay in (replay_fast, replay_slow):
        assert b"idempotent-replayed: true" in replay.lower()
        assert replay.partition(b"\r\n\r\n")[2] == first.partition(b"\r\n\r\n")[2]
    identifier = json.loads(first.partition(b"\r\n\r\n")[2])["identifier"]
    assert identifier.startswith("idk_")
    other = _request(meter["key"], _form(meter, "other"), headers=(f"Idempotency-Key: {key}",))
    conflict_fast, conflict_slow = _both_ways(server, other)
    assert conflict_fast.startswith(b"HTTP/1.1 400 ")
    assert _normal(conflict_fast) == _normal(conflict_slow)
    empty = _request(meter["key"], _form(meter, "e"), headers=("Idempotency-Key: ",))
    empty_fast, empty_slow = _both_ways(server, empty)
    assert empty_fast.startswith(b"HTTP/1.1 400 ")
    assert _normal(empty_fast) == _normal(empty_slow)


def test_every_acknowledged_event_counts_once(server: Server, meter: dict[str, Any]) -> None:
    """Fast, slow, pipelined and in-flight-followed requests all land in the summary."""
    tag = time.time_ns()
    r = [_request(meter["key"], _form(meter, f"c{tag}-{n}")) for n in range(26)]
    answers = _send(server, [r[0]])  # fast
    answers += _send(server, [r[1][:40], r[1][40:]])  # partial: the HTTP parser's
    answers += _send(server, [r[2] + r[3]], answers=2)  # pipelined in one read
    answers += _send(server, [r[4], r[5]], answers=2)  # the second comes while the first waits
    # half a millisecond apart, each in its own send: read one by one, held behind one in
    # flight (its commit takes longer; reading pauses), or together (then pipelined):
    # answered in order whichever way they came
    answers += _send(server, r[6:], answers=20, gap=0.0005)
    assert [a.split(b" ", 2)[1] for a in answers] == [b"200"] * 26
    ids = [json.loads(a.partition(b"\r\n\r\n")[2])["identifier"] for a in answers]
    assert ids == [f"c{tag}-{n}" for n in range(26)]  # in order
    with server.client(meter["key"]) as account:
        summary = account.get(f"/v1/billing/meters/{meter['id']}/event_summaries", params={
            "customer": meter["customer"], "start_time": int(time.time()) // 3600 * 3600 - 3600,
            "end_time": int(time.time()) // 3600 * 3600 + 3600}).json()
    assert sum(s["aggregated_value"] for s in summary["data"]) == 26 * 7


def test_connection_close_is_honoured(server: Server, meter: dict[str, Any]) -> None:
    request = _request(meter["key"], _form(meter, f"cl{time.time_ns()}"),
                       headers=("Connection: close",))
    received = _exchange(server, request)  # read until the server closes
    assert received.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in received.lower()


def _reads(data: bytes) -> Any:
    assert extension is not None
    return extension.meter_event_request(data)


def test_the_native_reader_takes_only_whole_plain_requests() -> None:
    body = b"event_name=e&identifier=i&payload%5Bvalue%5D=1&payload[k]=a+b%C3%A9"
    plain = _request("sk_test_x", body)
    taken = _reads(plain)
    assert taken is not None
    auth, idem, keep_alive, offset, fields = taken
    assert (auth, idem, keep_alive) == ("Bearer sk_test_x", None, True)
    assert plain[offset:] == body
    assert fields == {"event_name": "e", "identifier": "i",
                      "payload": {"value": "1", "k": "a bé"}}
    assert _reads(_request("k", body, headers=("Connection: close",)))[2] is False
    declined = [
        plain[:-1],  # partial body
        plain + plain,  # pipelined
        plain.replace(b"HTTP/1.1", b"HTTP/1.0"),
        plain.replace(b"/meter_events", b"/meter_events?x=1"),
        _request("k", body, headers=("Expect: 100-continue",)),
        _request("k", body, headers=("Transfer-Encoding: chunked",)),
        _request("k", body, headers=("Connection: upgrade",)),
        _request("k", body, headers=("Content-Length: 3",)),  # twice
        _request("k", body, content_type="application/json"),
        _request("k", body + b"&expand[]=x"),
        _request("k", body + b"&identifier=j"),
        _request("k", b"event_name=%ZZ"),
        _request("k", b"event_name=%FF"),
        _request("k", b"event_name=\xff"),
        _request("k", b"payload[a][b]=1"),
        _request("k", b"payload[0]=1"),
        _request("k", b"payload=1"),
    ]
    for data in declined:
        assert _reads(data) is None, data


def test_the_fast_server_timing_is_the_general_one() -> None:
    write = WriteRequest()
    assert writer_timing(write) is None  # refused before the writer took it: no stages
    write.stamps = (10.0, 10.0012345, 10.0045, 10.0045, 10.00571)
    assert writer_timing(write) == server_timing(write.stages())
    assert writer_timing(write) == (b"queue;dur=1.23, apply;dur=3.27, flush;dur=0.00, "
                                    b"commit;dur=1.21")
