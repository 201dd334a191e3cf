"""Every limit on input (metered.api.limits, docs/limits.md), table-driven: for each limit, on
each path that enforces it, one request just within (answered as usual) and one just beyond
(Stripe's error with the limit's status, type, code and `param`).

Everything is sent for one customer whose meters' totals the fixture keeps: after each test the
event summaries equal what was accepted, so nothing of a refused request (or of a refused event
in a batch) was ever counted.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
import pytest

from metered.api import limits
from metered.ingest.parse_pool import MIN_POOL_BYTES
from metered.ingest.wire_batch import SMALL_PAYLOAD

from conftest import Server

FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}
NDJSON = {"content-type": "application/x-ndjson"}
DAY = 86_400
WIDE = "w" * limits.MAX_EVENT_NAME  # the longest event name a meter can have
DOC = Path(__file__).resolve().parents[2] / "docs" / "limits.md"


@dataclass
class Answer:
    status: int
    body: Any


@dataclass
class Target:
    server: Server
    http: httpx.Client
    key: str
    session: str  # a meter event session token (the v2 stream)
    customer: str
    meters: dict[str, str]  # event name -> meter id
    expected: dict[str, Decimal] = field(default_factory=dict)  # event name -> its total
    serial: int = 0

    def tag(self) -> str:
        """A fresh identifier prefix."""
        self.serial += 1
        return f"lim{self.serial}-{time.monotonic_ns()}"

    def event(self, value: Any = "1", *, name: str = "units", **payload: Any
              ) -> dict[str, Any]:
        return {"event_name": name, "identifier": self.tag(),
                "payload": {"stripe_customer_id": self.customer, "value": value, **payload}}

    def count(self, event: dict[str, Any], amount: Decimal | int = 1) -> None:
        name = event["event_name"]
        self.expected[name] = self.expected.get(name, Decimal(0)) + Decimal(amount)

    def total(self, name: str) -> Decimal:
        now = int(time.time())
        response = self.http.get(f"/v1/billing/meters/{self.meters[name]}/event_summaries",
                                 params={"customer": self.customer,
                                         "start_time": (now - 36 * DAY) // 60 * 60,
                                         "end_time": (now // 60 + 10) * 60})
        assert response.status_code == 200, response.text
        data = json.loads(response.text, parse_float=Decimal)["data"]
        return Decimal(data[0]["aggregated_value"]) if data else Decimal(0)

    def check_totals(self) -> None:
        for name in self.meters:
            assert self.total(name) == self.expected.get(name, Decimal(0)), name

    def stream(self, content: bytes) -> httpx.Response:
        return httpx.post(f"{self.server.base_url}/v2/billing/meter_event_stream",
                          content=content, timeout=120,
                          headers={**JSON, "Authorization": f"Bearer {self.session}"})


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def target(server: Server) -> Iterator[Target]:
    key = server.new_account_key()
    with server.client(key) as http:
        customer = _ok(http.post("/v1/customers", data={"name": "limits"}))["id"]
        meters = {}
        for name, formula in (("units", "sum"), (WIDE, "sum"), ("uniq_units", "unique_count")):
            meters[name] = _ok(http.post("/v1/billing/meters", data={
                "display_name": name[:20], "event_name": name,
                "default_aggregation[formula]": formula,
                "dimension_payload_keys[0]": "model"}))["id"]
        session = _ok(http.post("/v2/billing/meter_event_session", json={}))[
            "authentication_token"]
        t = Target(server, http, key, session, customer, meters)
        baseline = [t.event(v) for v in ("2.5", "0.125", "7")]
        assert _ok(http.post("/v1/metered/events/batch", json=baseline))["accepted"] == 3
        t.expected["units"] = Decimal("9.625")
        t.check_totals()
        yield t
        t.check_totals()


@pytest.fixture
def t(target: Target) -> Iterator[Target]:
    """The module's target; after each test, the totals are exactly what was accepted."""
    yield target
    target.check_totals()


def stripe_error(answer: Answer, status: int, code: str | None, param: str | None) -> None:
    """A Stripe error body with exactly this status, code and param (None: absent)."""
    assert answer.status == status, answer.body
    assert isinstance(answer.body, dict) and set(answer.body) == {"error"}, answer.body
    error = answer.body["error"]
    assert set(error) <= {"type", "code", "message", "param"}, error
    assert error["type"] == "invalid_request_error", error
    assert isinstance(error["message"], str) and len(error["message"]) > 10, error
    assert (error.get("code"), error.get("param")) == (code, param), error


def answer(response: httpx.Response) -> Answer:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Answer(response.status_code, body)


# --- raw HTTP: the single-event fast path takes a request that comes whole in one read -------

def exchange(server: Server, writes: list[bytes]) -> Answer:
    """Send `writes` (separate reads on the server) on a new connection; the answer."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, data in enumerate(writes):
            if i:
                time.sleep(0.05)
            sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"closed before an answer: {received!r}"
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "closed mid-answer"
            body += chunk
    return Answer(int(head.split(b" ")[1]), json.loads(body))


def raw_post(t: Target, path: str, body: bytes, content_type: str, *, split: bool) -> Answer:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {t.key}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    return exchange(t.server, [head, body] if split else [head + body])


def form_of(event: dict[str, Any]) -> bytes:
    pairs = [(k, str(v)) for k, v in event.items() if k != "payload"]
    pairs += [(f"payload[{k}]", str(v)) for k, v in event["payload"].items()]
    return urlencode(pairs).encode()


# --- one meter event on each path ---------------------------------------------------------------

@dataclass
class Outcome:
    """One event's fate: accepted, or refused with a code and param."""

    accepted: bool
    code: str | None = None
    param: str | None = None


def single(answer_: Answer) -> Outcome:
    if answer_.status == 200:
        return Outcome(True)
    stripe_error(answer_, 400, answer_.body["error"].get("code"),
                 answer_.body["error"].get("param"))
    error = answer_.body["error"]
    return Outcome(False, error.get("code"), error.get("param"))


def in_batch(response: httpx.Response, status: int = 200) -> Outcome:
    assert response.status_code == status, response.text[:500]
    result = response.json()["results"][-1]
    if result["status"] == "accepted":
        return Outcome(True)
    assert result["status"] == "rejected", result
    return Outcome(False, result["error"]["code"], result["error"]["param"])


def padding(t: Target, size: int) -> list[dict[str, Any]]:
    """Plain events (counted) that make a batch at least `size` bytes long."""
    events: list[dict[str, Any]] = []
    while len(json.dumps(events)) < size:
        events.append(t.event("1"))
    for event in events:
        t.count(event)
    return events


def via_worker(t: Target, event: dict[str, Any]) -> Outcome:
    """A batch large enough for a parse worker (and the native path when all is plain)."""
    events = [*padding(t, MIN_POOL_BYTES), event]
    body = json.dumps(events).encode()
    assert len(body) >= MIN_POOL_BYTES
    response = t.http.post("/v1/metered/events/batch", content=body, headers=JSON)
    outcome = in_batch(response)
    assert response.json()["accepted"] == len(events) - 1 + outcome.accepted
    return outcome


SendEvent = Callable[[Target, dict[str, Any]], Outcome]
EVENT_PATHS: dict[str, SendEvent] = {
    "v1 form, one read": lambda t, e: single(raw_post(
        t, "/v1/billing/meter_events", form_of(e), FORM["content-type"], split=False)),
    "v1 form, two reads": lambda t, e: single(raw_post(
        t, "/v1/billing/meter_events", form_of(e), FORM["content-type"], split=True)),
    "v1 json": lambda t, e: single(answer(t.http.post("/v1/billing/meter_events", json=e))),
    "v2 json": lambda t, e: single(answer(t.http.post("/v2/billing/meter_events", json=e))),
    "batch": lambda t, e: in_batch(t.http.post("/v1/metered/events/batch", json=[e])),
    "batch, parse worker": via_worker,
    "ndjson": lambda t, e: in_batch(t.http.post(
        "/v1/metered/events/batch", content=json.dumps(e).encode() + b"\n", headers=NDJSON)),
    "stream": lambda t, e: in_batch(t.stream(json.dumps({"events": [e]}).encode()), 202),
}
FORM_PATHS = ("v1 form, one read", "v1 form, two reads")


def compact_size(payload: dict[str, Any]) -> int:
    return len(msgspec.json.encode(payload))


def sized_payload(t: Target, size: int, filler: str) -> dict[str, Any]:
    """A payload of exactly `size` bytes of JSON, padded with `filler` (1 or 2 bytes each)."""
    payload = {"stripe_customer_id": t.customer, "value": "1", "pad": ""}
    room = size - compact_size(payload)
    width = len(filler.encode())
    payload["pad"] = filler * (room // width) + "x" * (room % width)
    assert compact_size(payload) == size
    return payload


def nested(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


@dataclass(frozen=True)
class EventLimit:
    """`make(t, beyond)`: the event just within (False) or just beyond (True) the limit."""

    id: str
    make: Callable[[Target, bool], dict[str, Any]]
    code: str
    param: str
    form: bool = True  # expressible in a form body (JSON-only otherwise)
    counted: Decimal = Decimal(1)  # what the event within adds to its meter's total


def _identifier(t: Target, beyond: bool) -> dict[str, Any]:
    event = t.event()
    event["identifier"] = (event["identifier"] + "-" + "i" * 300)[
        :limits.MAX_IDENTIFIER + beyond]
    return event


def _payload_keys(t: Target, beyond: bool) -> dict[str, Any]:
    extra = limits.MAX_PAYLOAD_KEYS - 2 + beyond  # with the customer and the value
    return t.event(**{f"k{i}": "v" for i in range(extra)})


def _replace_payload(t: Target, payload: dict[str, Any]) -> dict[str, Any]:
    return {**t.event(), "payload": payload}


def _with_timestamp(offset: Callable[[int], int]) -> Callable[[Target, bool], dict[str, Any]]:
    return lambda t, beyond: {**t.event(), "timestamp": offset(beyond)}


EVENT_LIMITS: list[EventLimit] = [
    EventLimit("identifier", _identifier, "parameter_invalid", "identifier"),
    EventLimit("event_name", lambda t, beyond: t.event(name=WIDE + "w" * beyond),
               "parameter_invalid", "event_name"),
    EventLimit("payload keys", _payload_keys, "parameter_invalid", "payload"),
    EventLimit("payload key length", lambda t, beyond: t.event(
        **{"k" * (limits.MAX_PAYLOAD_KEY_LENGTH + beyond): "v"}), "parameter_invalid",
        "payload[" + "k" * (limits.MAX_PAYLOAD_KEY_LENGTH + 1) + "]"),
    EventLimit("payload bytes", lambda t, beyond: _replace_payload(
        t, sized_payload(t, limits.MAX_PAYLOAD_BYTES + beyond, "x")),
        "parameter_invalid", "payload"),
    EventLimit("payload bytes, UTF-8", lambda t, beyond: _replace_payload(
        t, sized_payload(t, limits.MAX_PAYLOAD_BYTES + beyond, "\u00e9")),
        "parameter_invalid", "payload"),
    EventLimit("payload nesting", lambda t, beyond: t.event(
        deep=nested(limits.MAX_PAYLOAD_DEPTH - 1 + beyond)), "parameter_invalid", "payload",
        form=False),
    EventLimit("dimension value", lambda t, beyond: t.event(
        model="m" * (limits.MAX_DIMENSION_VALUE + beyond)), "parameter_invalid",
        "payload[model]"),
    EventLimit("unique_count value", lambda t, beyond: t.event(
        (t.tag() + "u" * 300)[:limits.MAX_UNIQUE_VALUE + beyond], name="uniq_units"),
        "meter_event_invalid_value", "payload[value]"),
    EventLimit("significant digits", lambda t, beyond: t.event("9" * (15 + beyond)),
               "meter_event_value_too_many_digits", "payload[value]",
               counted=Decimal("9" * 15)),
    EventLimit("decimal places", lambda t, beyond: t.event("0." + "0" * (11 + beyond) + "1"),
               "meter_event_invalid_value", "payload[value]", counted=Decimal("1e-12")),
    EventLimit("negative value", lambda t, beyond: t.event("-1" if beyond else "0"),
               "meter_event_invalid_value", "payload[value]", counted=Decimal(0)),
    EventLimit("enormous number", lambda t, beyond: t.event(10**400 if beyond else 10**14),
               "meter_event_value_too_many_digits", "payload[value]", form=False,
               counted=Decimal(10**14)),
    EventLimit("timestamp in the past", _with_timestamp(
        lambda beyond: int(time.time()) - limits.MAX_PAST_SECONDS + (-120 if beyond else 120)),
        "timestamp_too_far_in_past", "timestamp"),
    EventLimit("timestamp in the future", _with_timestamp(
        lambda beyond: int(time.time()) + limits.MAX_FUTURE_SECONDS + (300 if beyond else -100)),
        "timestamp_in_future", "timestamp"),
    EventLimit("enormous timestamp", _with_timestamp(
        lambda beyond: 10**30 if beyond else int(time.time())),
        "timestamp_in_future", "timestamp", form=False),
]
EVENT_CASES = [pytest.param(limit, path, id=f"{limit.id} | {path}")
               for limit in EVENT_LIMITS for path in EVENT_PATHS
               if limit.form or path not in FORM_PATHS]


@pytest.mark.parametrize(("limit", "path"), EVENT_CASES)
def test_event_limits(t: Target, limit: EventLimit, path: str) -> None:
    send = EVENT_PATHS[path]
    within = limit.make(t, False)
    assert send(t, within) == Outcome(True), "the event just within the limit is refused"
    t.count(within, limit.counted)
    assert send(t, limit.make(t, True)) == Outcome(False, limit.code, limit.param)


# --- whole requests -------------------------------------------------------------------------

Expect = tuple[int, str | None, str | None]  # status, code, param
Call = Callable[[Target, bool], Answer]
OK: Expect = (200, None, None)


@dataclass(frozen=True)
class RequestLimit:
    """`call(t, beyond)` sends the request just within or just beyond; `within` is how that
    one is answered (200, or another error than the limit's), `beyond` the limit's error.
    `adds`: events the request within adds to the customer's `units` total."""

    id: str
    call: Call
    within: Expect
    beyond: Expect
    adds: int = 0


def check(answer_: Answer, expect: Expect) -> None:
    status, code, param = expect
    if status < 300:
        assert answer_.status == status, answer_.body
    else:
        stripe_error(answer_, status, code, param)


def padded_json(value: Any, size: int) -> bytes:
    """`value` as JSON, padded with spaces to exactly `size` bytes."""
    body = json.dumps(value).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


def post(path: str, body: Callable[[Target, bool], bytes], headers: dict[str, str]) -> Call:
    return lambda t, beyond: answer(t.http.post(path, content=body(t, beyond), headers=headers,
                                                timeout=120))


def stream(body: Callable[[Target, bool], bytes]) -> Call:
    return lambda t, beyond: answer(t.stream(body(t, beyond)))


def events(t: Target, n: int) -> list[dict[str, Any]]:
    return [t.event("1") for _ in range(n)]


BODY, BATCH_BODY = limits.MAX_BODY_BYTES, limits.MAX_BATCH_BODY_BYTES
N = limits.MAX_BATCH_EVENTS
TOO_LARGE: Expect = (413, "request_too_large", None)
BATCH_TOO_LARGE: Expect = (400, "batch_too_large", "events")


def _form_deep(prefix: str, parts: int) -> str:
    return prefix + "".join(f"[{chr(97 + i % 26)}]" for i in range(parts - 1))


def _deep_json(levels: int) -> str:
    return "[" * levels + "]" * levels


def _deep_event(t: Target, levels: int) -> bytes:
    payload = json.dumps(t.event()["payload"])[:-1] + f', "deep": {_deep_json(levels)}}}'
    return f'{{"event_name": "units", "payload": {payload}}}'.encode()


DEEP_JSON = 5_000  # past the decoder's bound on any stack
NESTED_NAME = _form_deep("metadata", limits.MAX_FORM_DEPTH + 1)


def _page(path: str, limit: Callable[[bool], int]) -> Call:
    def call(t: Target, beyond: bool) -> Answer:
        params: dict[str, Any] = {"limit": limit(beyond)}
        if "summaries" in path:
            now = int(time.time()) // 60 * 60
            params.update(customer=t.customer, start_time=now - 3600, end_time=now)
        return answer(t.http.get(path.format(units=t.meters["units"]), params=params))
    return call


PAGED = ("/v1/customers", "/v1/billing/meters", "/v1/products", "/v1/events", "/v1/invoices",
         "/v1/billing/meters/{units}/event_summaries")
PAGE_EDGES: dict[str, Callable[[bool], int]] = {
    "1 and 0": lambda beyond: 0 if beyond else limits.MIN_PAGE_LIMIT,
    "100 and 101": lambda beyond: limits.MAX_PAGE_LIMIT + beyond,
}


def _raw_url(t: Target, beyond: bool) -> Answer:
    prefix = "/v1/customers?email="
    url = prefix + "a" * (limits.MAX_URL_BYTES - len(prefix) + beyond)
    request = (f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {t.key}\r\n"
               "Connection: close\r\n\r\n").encode()
    return exchange(t.server, [request])


def _metadata(pairs: Callable[[bool], dict[str, str]]) -> Call:
    return lambda t, beyond: answer(t.http.post("/v1/customers", data={
        "name": "md", **{f"metadata[{k}]": v for k, v in pairs(beyond).items()}}))


def _merge(t: Target, beyond: bool) -> Answer:
    full = {f"metadata[k{i}]": "v" for i in range(limits.MAX_METADATA_KEYS)}
    customer = _ok(t.http.post("/v1/customers", data={"name": "full", **full}))["id"]
    update = {"metadata[k0]": "w", "metadata[new]": "v"} if beyond else {
        "metadata[k0]": "", "metadata[new]": "v"}  # a key deleted makes room for another
    return answer(t.http.post(f"/v1/customers/{customer}", data=update))


def _odd_bytes(beyond: bool) -> bytes:
    """Raw bytes in an identifier: not UTF-8 beyond, UTF-8 (two-byte characters) within."""
    return b"\xff\xfe" if beyond else "\u00e9t\u00e9".encode()


def _non_utf8(send: Callable[[Target, bytes], Answer]) -> Call:
    def call(t: Target, beyond: bool) -> Answer:
        event = t.event()
        return send(t, form_of(event).replace(
            event["identifier"].encode(), event["identifier"].encode() + _odd_bytes(beyond)))
    return call


def _non_utf8_json(send: Callable[[Target, bytes], Answer]) -> Call:
    def call(t: Target, beyond: bool) -> Answer:
        event = t.event()
        return send(t, json.dumps(event).encode().replace(
            event["identifier"].encode(), event["identifier"].encode() + _odd_bytes(beyond)))
    return call


REQUEST_LIMITS: list[RequestLimit] = [
    # Body size: JSON padded with spaces to exactly the limit, then one byte more.
    RequestLimit("body size | v1 json", post("/v1/billing/meter_events", lambda t, beyond:
                 padded_json(t.event(), BODY + beyond), JSON), OK, TOO_LARGE, adds=1),
    RequestLimit("body size | v2 json", post("/v2/billing/meter_events", lambda t, beyond:
                 padded_json(t.event(), BODY + beyond), JSON), OK, TOO_LARGE, adds=1),
    RequestLimit("body size | customers json", post("/v1/customers", lambda t, beyond:
                 padded_json({"name": "big"}, BODY + beyond), JSON), OK, TOO_LARGE),
    RequestLimit("body size | customers form", post("/v1/customers", lambda t, beyond:
                 b"description=" + b"d" * (BODY - 12 + beyond), FORM),
                 (400, "parameter_invalid", "description"), TOO_LARGE),
    RequestLimit("body size | adjustments form", post(
        "/v1/billing/meter_event_adjustments", lambda t, beyond: b"event_name=units&cancel"
        b"[identifier]=" + b"i" * (BODY - 36 + beyond), FORM),
        (400, "parameter_invalid", "cancel[identifier]"), TOO_LARGE),
    RequestLimit("body size | batch", post("/v1/metered/events/batch", lambda t, beyond:
                 padded_json([t.event()], BATCH_BODY + beyond), JSON), OK, TOO_LARGE, adds=1),
    RequestLimit("body size | ndjson", post("/v1/metered/events/batch", lambda t, beyond:
                 json.dumps(t.event()).encode().ljust(BATCH_BODY + beyond, b"\n"), NDJSON),
                 OK, TOO_LARGE, adds=1),
    RequestLimit("body size | stream", stream(lambda t, beyond: padded_json(
        {"events": [t.event()]}, BATCH_BODY + beyond)), (202, None, None), TOO_LARGE, adds=1),
    # Events per request.
    RequestLimit("batch length | json array", post("/v1/metered/events/batch", lambda t, beyond:
                 json.dumps(events(t, N + beyond)).encode(), JSON), OK, BATCH_TOO_LARGE,
                 adds=N),
    RequestLimit("batch length | events object", post(
        "/v1/metered/events/batch", lambda t, beyond: json.dumps(
            {"events": events(t, N + beyond)}).encode(), JSON), OK, BATCH_TOO_LARGE, adds=N),
    RequestLimit("batch length | ndjson", post("/v1/metered/events/batch", lambda t, beyond:
                 "\n".join(json.dumps(e) for e in events(t, N + beyond)).encode(), NDJSON),
                 OK, BATCH_TOO_LARGE, adds=N),
    RequestLimit("batch length | stream", stream(lambda t, beyond: json.dumps(
        {"events": events(t, N + beyond)}).encode()), (202, None, None), BATCH_TOO_LARGE,
        adds=N),
    # Fields of a form body or query string (empty fields count).
    RequestLimit("form fields | customers", post("/v1/customers", lambda t, beyond:
                 b"name=x" + b"&" * (limits.MAX_FORM_FIELDS - 1 + beyond), FORM),
                 OK, (400, "parameter_invalid", None)),
    *[RequestLimit(f"form fields | v1 form, {reads}", lambda t, beyond, split=split: raw_post(
        t, "/v1/billing/meter_events", form_of(t.event())
        + b"&" * (limits.MAX_FORM_FIELDS - 4 + beyond), FORM["content-type"], split=split),
        OK, (400, "parameter_invalid", None), adds=1)
      for reads, split in (("one read", False), ("two reads", True))],
    RequestLimit("form fields | query", lambda t, beyond: answer(t.http.get(
        "/v1/customers?limit=1" + "&" * (limits.MAX_FORM_FIELDS - 1 + beyond))),
        OK, (400, "parameter_invalid", None)),
    # Nesting of a form name: the name as sent is the param.
    RequestLimit("form nesting | customers", post("/v1/customers", lambda t, beyond:
                 _form_deep("metadata", limits.MAX_FORM_DEPTH + beyond).encode() + b"=x", FORM),
                 (400, "parameter_invalid", "metadata[a]"),
                 (400, "parameter_invalid", NESTED_NAME)),
    RequestLimit("form nesting | 100 levels", post("/v1/customers", lambda t, beyond:
                 _form_deep("metadata", 100 if beyond else 2).encode() + b"=x", FORM), OK,
                 (400, "parameter_invalid", _form_deep("metadata", 100))),
    RequestLimit("form nesting | meter event", post("/v1/billing/meter_events", lambda t, beyond:
                 form_of(t.event()) + b"&" + _form_deep(
                     "payload", limits.MAX_FORM_DEPTH + beyond).encode() + b"=x", FORM),
                 OK, (400, "parameter_invalid", _form_deep("payload", limits.MAX_FORM_DEPTH + 1)),
                 adds=1),
    RequestLimit("form nesting | query", lambda t, beyond: answer(t.http.get(
        "/v1/customers?" + _form_deep("expand", limits.MAX_FORM_DEPTH + beyond) + "=x")),
        (400, "parameter_invalid", "expand"),
        (400, "parameter_invalid", _form_deep("expand", limits.MAX_FORM_DEPTH + 1))),
    # JSON nested past what the decoder follows: refused whole, as malformed JSON.
    RequestLimit("json nesting | customers", post("/v1/customers", lambda t, beyond:
                 f'{{"name": {_deep_json(DEEP_JSON if beyond else 500)}}}'.encode(), JSON),
                 (400, "parameter_invalid", "name"), (400, "parameter_invalid_json", None)),
    RequestLimit("json nesting | v1 event", post("/v1/billing/meter_events", lambda t, beyond:
                 _deep_event(t, DEEP_JSON if beyond else 500), JSON),
                 (400, "parameter_invalid", "payload"), (400, "parameter_invalid_json", None)),
    RequestLimit("json nesting | v2 event", post("/v2/billing/meter_events", lambda t, beyond:
                 _deep_event(t, DEEP_JSON if beyond else 500), JSON),
                 (400, "parameter_invalid", "payload"), (400, "parameter_invalid_json", None)),
    RequestLimit("json nesting | batch", post("/v1/metered/events/batch", lambda t, beyond:
                 b"[" + _deep_event(t, DEEP_JSON if beyond else 500) + b"]", JSON),
                 OK, (400, "parameter_invalid_json", None)),
    RequestLimit("json nesting | batch, parse worker", post(
        "/v1/metered/events/batch", lambda t, beyond: json.dumps(events(t, 150)).encode()[:-1]
        + b", " + _deep_event(t, DEEP_JSON if beyond else 500) + b"]", JSON),
        OK, (400, "parameter_invalid_json", None), adds=150),
    RequestLimit("json nesting | ndjson", post("/v1/metered/events/batch", lambda t, beyond:
                 _deep_event(t, DEEP_JSON if beyond else 500), NDJSON),
                 OK, (400, "parameter_invalid_json", None)),
    RequestLimit("json nesting | stream", stream(lambda t, beyond: b'{"events": ['
                 + _deep_event(t, DEEP_JSON if beyond else 500) + b"]}"),
                 (202, None, None), (400, "parameter_invalid_json", None)),
    # Bodies that are not UTF-8 (within: the same body with valid UTF-8).
    RequestLimit("utf-8 | v1 form, one read", _non_utf8(lambda t, body: raw_post(
        t, "/v1/billing/meter_events", body, FORM["content-type"], split=False)),
        OK, (400, "parameter_invalid_encoding", None), adds=1),
    RequestLimit("utf-8 | v1 form, two reads", _non_utf8(lambda t, body: raw_post(
        t, "/v1/billing/meter_events", body, FORM["content-type"], split=True)),
        OK, (400, "parameter_invalid_encoding", None), adds=1),
    RequestLimit("utf-8 | v1 json", _non_utf8_json(lambda t, body: answer(t.http.post(
        "/v1/billing/meter_events", content=body, headers=JSON))),
        OK, (400, "parameter_invalid_json", None), adds=1),
    RequestLimit("utf-8 | batch, parse worker", _non_utf8_json(lambda t, body: answer(
        t.http.post("/v1/metered/events/batch", headers=JSON, content=json.dumps(
            events(t, 150)).encode()[:-1] + b", " + body + b"]"))),
        OK, (400, "parameter_invalid_json", None), adds=151),
    RequestLimit("utf-8 | ndjson", _non_utf8_json(lambda t, body: answer(t.http.post(
        "/v1/metered/events/batch", content=body, headers=NDJSON))),
        OK, (400, "parameter_invalid_json", None), adds=1),
    RequestLimit("utf-8 | stream", _non_utf8_json(lambda t, body: answer(t.stream(
        b'{"events": [' + body + b"]}"))), (202, None, None),
        (400, "parameter_invalid_json", None), adds=1),
    # Pagination.
    *[RequestLimit(f"limit {edges} | {path}", _page(path, limit), OK,
                   (400, "parameter_invalid", "limit"))
      for edges, limit in PAGE_EDGES.items() for path in PAGED],
    # Metadata.
    RequestLimit("metadata keys", _metadata(lambda beyond: {
        f"k{i}": "v" for i in range(limits.MAX_METADATA_KEYS + beyond)}),
        OK, (400, "parameter_invalid", "metadata")),
    RequestLimit("metadata key length", _metadata(lambda beyond: {
        "k" * (limits.MAX_METADATA_KEY_LENGTH + beyond): "v"}),
        OK, (400, "parameter_invalid", f"metadata[{'k' * (limits.MAX_METADATA_KEY_LENGTH + 1)}]")),
    RequestLimit("metadata value length", _metadata(lambda beyond: {
        "k": "v" * (limits.MAX_METADATA_VALUE_LENGTH + beyond)}),
        OK, (400, "parameter_invalid", "metadata[k]")),
    RequestLimit("metadata empty key (json)", lambda t, beyond: answer(t.http.post(
        "/v1/customers", json={"metadata": {"" if beyond else "k": "v"}})),
        OK, (400, "parameter_invalid", "metadata[]")),
    RequestLimit("metadata nested (price product_data)", lambda t, beyond: answer(t.http.post(
        "/v1/prices", data={"currency": "usd", "unit_amount": "5", "product_data[name]": "p",
                            "product_data[metadata][k]": "v" * (
                                limits.MAX_METADATA_VALUE_LENGTH + beyond)})),
        OK, (400, "parameter_invalid", "product_data[metadata][k]")),
    RequestLimit("metadata keys after an update", _merge, OK, (400, "parameter_invalid",
                                                               "metadata")),
    # Identifiers elsewhere, headers and the URL.
    RequestLimit("cancel[identifier] | v1", lambda t, beyond: answer(t.http.post(
        "/v1/billing/meter_event_adjustments", data={
            "event_name": "units", "cancel[identifier]": "c" * (limits.MAX_IDENTIFIER + beyond)})),
        (404, "resource_missing", "cancel[identifier]"),
        (400, "parameter_invalid", "cancel[identifier]")),
    RequestLimit("cancel[identifier] | v2", lambda t, beyond: answer(t.http.post(
        "/v2/billing/meter_event_adjustments", json={
            "event_name": "units",
            "cancel": {"identifier": "c" * (limits.MAX_IDENTIFIER + beyond)}})),
        (404, "resource_missing", "cancel[identifier]"),
        (400, "parameter_invalid", "cancel[identifier]")),
    RequestLimit("Idempotency-Key", lambda t, beyond: answer(t.http.post(
        "/v1/customers", data={"name": "idem"}, headers={
            "Idempotency-Key": (t.tag() + "k" * 300)[:limits.MAX_IDEMPOTENCY_KEY + beyond]})),
        OK, (400, None, "Idempotency-Key")),
    RequestLimit("URL length", _raw_url, (400, "parameter_invalid", "email"), (400, None, None)),
]


@pytest.mark.parametrize("limit", [pytest.param(r, id=r.id) for r in REQUEST_LIMITS])
def test_request_limits(t: Target, limit: RequestLimit) -> None:
    check(limit.call(t, False), limit.within)
    t.expected["units"] += limit.adds
    check(limit.call(t, True), limit.beyond)


def test_the_fast_paths_cannot_reach_the_limits_they_do_not_check() -> None:
    """The batch fast paths (wire_batch and the native one) take only payloads under
    SMALL_PAYLOAD bytes, and BatchValidator looks into payloads of more than
    MAX_PAYLOAD_KEY_LENGTH bytes only: neither can hold a key longer than MAX_PAYLOAD_KEY_LENGTH
    (`{"key":0}`) or nesting deeper than MAX_PAYLOAD_DEPTH (two bytes a level)."""
    assert SMALL_PAYLOAD - 1 - len('{"":0}') <= limits.MAX_PAYLOAD_KEY_LENGTH
    assert (SMALL_PAYLOAD - 1) // 2 <= limits.MAX_PAYLOAD_DEPTH
    assert limits.MAX_PAYLOAD_KEY_LENGTH // 2 <= limits.MAX_PAYLOAD_DEPTH


def test_the_page_lists_every_limit_with_its_value() -> None:
    """docs/limits.md names each constant of api.limits, with its value, on one row."""
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("|")]
    for name in limits.__all__:
        value = getattr(limits, name)
        row = next((r for r in rows if f"`{name}`" in r), None)
        assert row is not None, f"docs/limits.md does not name {name}"
        assert f"{value:,}" in row, f"docs/limits.md does not give {name} = {value:,}"
    assert sorted(limits.__all__) == sorted(
        n for n in vars(limits) if n.isupper() and not n.startswith("_"))
