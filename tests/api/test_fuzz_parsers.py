"""Hypothesis against the parsers of a live server: form bodies (bracket nesting, arrays, odd
encodings), JSON bodies, and meter events with random payloads, on every path that takes them.

Properties: never a 5xx; every refusal is Stripe's error body; and every event answered
`accepted` is counted exactly, once: after each example the meter's event summary equals the sum
of the values the server accepted (duplicates and refusals add nothing). tests/api/
test_fuzz_no_5xx.py fuzzes every route's parameters; this module aims at the decoders and at the
accounting. Example counts are bounded so that the module runs in well under a minute.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_input_limits import exchange

from metered.api import limits

from conftest import Server

FORM = "application/x-www-form-urlencoded"
DAY = 86_400
ERROR_TYPES = ("invalid_request_error", "authentication_error", "idempotency_error",
               "rate_limit_error")
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


@dataclass
class Tenant:
    server: Server
    http: httpx.Client
    stream: httpx.Client  # authenticated by a meter event session token
    key: str
    customer: str
    meter: str
    expected: Decimal = Decimal(0)  # the sum of every value answered `accepted`
    accepted: list[str] = field(default_factory=list)  # their identifiers, to send again
    serial: Iterator[int] = field(default_factory=itertools.count)

    def identifier(self) -> str:
        return f"fz{next(self.serial)}"

    def total(self) -> Decimal:
        now = int(time.time())
        response = self.http.get(f"/v1/billing/meters/{self.meter}/event_summaries", params={
            "customer": self.customer, "start_time": (now - 36 * DAY) // 60 * 60,
            "end_time": (now // 60 + 10) * 60})
        assert response.status_code == 200, response.text
        data = json.loads(response.text, parse_float=Decimal)["data"]
        return Decimal(data[0]["aggregated_value"]) if data else Decimal(0)

    def count(self, event: dict[str, Any]) -> None:
        """An event the server accepted: its value is now part of the total."""
        self.expected += quantity(event["payload"]["value"])
        if isinstance(event.get("identifier"), str) and event["identifier"]:
            self.accepted.append(event["identifier"])


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[Tenant]:
    key = server.new_account_key()
    with server.client(key) as http:
        customer = http.post("/v1/customers", data={"name": "fuzz"}).json()["id"]
        meter = http.post("/v1/billing/meters", data={
            "display_name": "fuzz", "event_name": "fz", "default_aggregation[formula]": "sum",
            "dimension_payload_keys[0]": "model"}).json()["id"]
        token = http.post("/v2/billing/meter_event_session").json()["authentication_token"]
        with httpx.Client(base_url=server.base_url, timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as stream:
            tenant = Tenant(server, http, stream, key, customer, meter)
            yield tenant
            assert tenant.total() == tenant.expected


def quantity(value: Any) -> Decimal:
    """The number an accepted value stands for (a float is read as its repr, as the server
    reads it)."""
    text = repr(value) if isinstance(value, float) else str(value)
    try:
        return Decimal(text)
    except InvalidOperation:
        message = f"the server accepted a value that is not a number: {value!r}"
        raise AssertionError(message) from None


def stripe_shaped(status: int, body: Any) -> None:
    """Never a 5xx, and every refusal is Stripe's error body."""
    assert status < 500, (status, body)
    if status < 400:
        return
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"type", "code", "message", "param"}, error
    assert error["type"] in ERROR_TYPES, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error.get("code", ""), str) and isinstance(error.get("param", ""), str)


def checked(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        message = f"not JSON: {response.status_code} {response.text[:300]}"
        raise AssertionError(message) from None
    stripe_shaped(response.status_code, body)
    assert response.headers["content-type"] == "application/json"
    return body


# --- strategies ---------------------------------------------------------------------------------

NAMES = ["event_name", "payload", "identifier", "timestamp", "value", "stripe_customer_id",
         "model", "metadata", "expand", "name", "email", "description", "items", "price",
         "limit", "display_name", "default_aggregation", "formula", "cancel", "currency",
         "unit_amount", "product_data", "recurring", "interval", "0", "1", "10", ""]
ODD = "[]%&=+ é\u00a0\u2028\U0001f600\x00\x7f"
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
odd_texts = st.text(st.sampled_from(ODD + "ab01"), max_size=8)
# Numbers as text: plain, padded, with exponents, signs, Unicode digits, and not numbers.
number_texts = st.one_of(
    st.integers(0, 10**16).map(str),
    st.decimals(min_value=0, max_value=10**15, allow_nan=False, allow_infinity=False).map(str),
    st.integers(0, 20).map(lambda n: "0" * n + "7"),
    st.sampled_from(["1e3", "1E+2", "2.5e-3", ".5", "5.", "0", "-0", "00.000", "1_000", " 5",
                     "+5", "-1", "NaN", "inf", "1e-13", "1e15", "\u0663", "\uff11", "0x10",
                     "1,5", "", "12345678901234567", "0.0000000000001"]),
    texts,
)


@st.composite
def form_keys(draw: st.DrawFn) -> str:
    """A name as the SDKs nest them (`a[b][0][]`), sometimes deeper than allowed or broken."""
    head = draw(st.one_of(st.sampled_from(NAMES), texts))
    depth = draw(st.one_of(st.integers(0, 4), st.integers(limits.MAX_FORM_DEPTH - 2,
                                                          limits.MAX_FORM_DEPTH + 3),
                           st.just(100)))
    parts = draw(st.lists(st.one_of(st.sampled_from(NAMES), st.integers(0, 12).map(str),
                                    odd_texts), min_size=depth, max_size=depth))
    key = head + "".join(f"[{part}]" for part in parts)
    return draw(st.sampled_from([key, key, key + "]", "[" + key, key.replace("]", "", 1)]))


def encode(text: str, style: str) -> str:
    """`text` in a form, as the clients of the world send it; all but `raw` keep its meaning."""
    if style == "percent":  # every reserved character, brackets too (the stripe SDKs)
        return quote(text, safe="")
    if style == "brackets":  # brackets left as they are
        return quote(text, safe="[]")
    if style == "plus":  # spaces as `+`
        return quote(text, safe="[] ").replace(" ", "+")
    return text


STYLES = ("percent", "brackets", "plus")
CORRUPTIONS = [b"%", b"%G1", b"%C0%AF", b"%ED%A0%80", b"\xff", b"\xc3", b"&&", b"=", b"==",
               b"%00", b"&=x", b"[", b"]"]


@st.composite
def form_bodies(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(form_keys(), st.one_of(number_texts, texts, odd_texts),
                                    st.sampled_from((*STYLES, "raw"))), max_size=10))
    body = "&".join(f"{encode(k, style)}={encode(v, style)}" for k, v, style in pairs).encode()
    if draw(st.booleans()):  # a corruption somewhere
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from(CORRUPTIONS)) + body[at:]
    return body


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                         st.floats(allow_nan=False, allow_infinity=False), texts, number_texts)
json_values = st.recursive(json_scalars, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(texts, children, max_size=3)),
    max_leaves=10)


@st.composite
def raw_json(draw: st.DrawFn) -> bytes:
    """JSON text with what decoders trip on: deep nesting, huge numbers, escapes, garbage."""
    value = json.dumps(draw(st.dictionaries(st.sampled_from(NAMES), json_values, max_size=6)))
    trick = draw(st.sampled_from(["none", "deep", "number", "escape", "truncate", "bom",
                                  "trailing", "nan"]))
    if trick == "deep":
        levels = draw(st.sampled_from([10, limits.MAX_PAYLOAD_DEPTH + 1, 900, 3000]))
        value = value[:-1] + (", " if value != "{}" else "") + \
            f'"x": {"[" * levels}{"]" * levels}}}'
    elif trick == "number":
        value = value[:-1] + (", " if value != "{}" else "") + \
            f'"n": {draw(st.sampled_from(["1" + "0" * 400, "1e400", "-1e-400", "1.5E+308"]))}}}'
    elif trick == "escape":
        escape = draw(st.sampled_from([r"\ud800", r"\udc00x", r"\u0000", r"\x41", "\\"]))
        value = value[:-1] + (", " if value != "{}" else "") + '"e": "' + escape + '"}'
    elif trick == "truncate":
        value = value[:draw(st.integers(0, len(value)))]
    elif trick == "bom":
        value = "\ufeff" + value
    elif trick == "trailing":
        value = value[:-1] + ",}" if value != "{}" else "{,}"
    elif trick == "nan":
        value = value[:-1] + (", " if value != "{}" else "") + '"v": NaN}'
    return value.encode("utf-8", "surrogatepass")


# Events: mostly well formed for the tenant's meter, so that many are accepted, with random
# payload keys and values, numbers as strings, unicode, nesting, and identifiers sent again.
payload_keys = st.one_of(texts, odd_texts, st.sampled_from(["model", "0", "", "k" * 500,
                                                            "k" * 501]))
# In a form a key with brackets nests (test_form_bodies sends those): here a form's event
# means what it says, so that its echo can be compared with what was sent.
form_payload_keys = payload_keys.filter(lambda key: "[" not in key and "]" not in key)


@st.composite
def events(draw: st.DrawFn, tenant: Tenant, form: bool) -> dict[str, Any]:
    values = st.one_of(number_texts, st.integers(0, 10**15)) if form else st.one_of(
        number_texts, st.integers(-5, 10**16), st.floats(0, 1e6), st.booleans(), json_values)
    extra_values = st.one_of(texts, number_texts) if form else json_values
    payload: dict[str, Any] = draw(st.dictionaries(
        form_payload_keys if form else payload_keys, extra_values, max_size=4))
    if draw(st.booleans()):
        payload["model"] = draw(st.one_of(texts, st.just("m" * 200), st.just("m" * 201)))
    customer = draw(st.sampled_from([tenant.customer] * 6 + ["", "cus_nobody", None]))
    payload.pop("stripe_customer_id", None)
    if customer is not None:
        payload["stripe_customer_id"] = customer
    payload["value"] = draw(values)
    event: dict[str, Any] = {"event_name": draw(st.sampled_from(["fz"] * 8 + ["nope", ""])),
                             "payload": payload}
    identifier = draw(st.sampled_from(["fresh"] * 6 + ["again", "absent", "odd"]))
    if identifier == "fresh":
        event["identifier"] = tenant.identifier()
    elif identifier == "again":  # a duplicate: never counted twice
        pick = draw(st.integers(0, 49))  # drawn whatever was accepted before: replayable
        seen = tenant.accepted[-50:]
        event["identifier"] = seen[pick % len(seen)] if seen else tenant.identifier()
    elif identifier == "odd":
        event["identifier"] = tenant.identifier() + draw(st.one_of(texts, st.just("i" * 300)))
    now = int(time.time())
    timestamp = draw(st.sampled_from(["absent"] * 5 + ["recent", "old", "future", "iso"]))
    if timestamp == "recent":
        event["timestamp"] = now - draw(st.integers(0, 30 * DAY))
    elif timestamp == "old":
        event["timestamp"] = now - limits.MAX_PAST_SECONDS - 3600
    elif timestamp == "future":
        event["timestamp"] = now + limits.MAX_FUTURE_SECONDS + 3600
    elif timestamp == "iso":
        event["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))
    if form:
        event = {k: str(v) for k, v in event.items() if k != "payload"} | {"payload": {
            k: str(v) for k, v in payload.items()}}
    return event


def form_of(event: dict[str, Any], style: str) -> bytes:
    pairs = [(k, v) for k, v in event.items() if k != "payload"]
    pairs += [(f"payload[{k}]", v) for k, v in event["payload"].items()]
    return "&".join(f"{encode(k, style)}={encode(str(v), style)}" for k, v in pairs).encode()


# --- form bodies --------------------------------------------------------------------------------

FORM_ROUTES = ["/v1/customers", "/v1/billing/meters", "/v1/billing/meter_events",
               "/v1/products", "/v1/prices", "/v1/billing/meter_event_adjustments",
               "/v1/billing/alerts", "/v1/test_helpers/test_clocks"]
QUERY_ROUTES = ["/v1/customers", "/v1/billing/meters", "/v1/invoices", "/v1/events",
                "/v1/billing/meters/{meter}/event_summaries", "/v1/metered/meters/{meter}/usage"]


@settings(FUZZ, max_examples=150)
@given(route=st.sampled_from(FORM_ROUTES), body=form_bodies())
def test_form_bodies(tenant: Tenant, route: str, body: bytes) -> None:
    answer = checked(tenant.http.post(route, content=body, headers={"content-type": FORM}))
    if answer.get("object") == "billing.meter_event":  # a random form made an event: count it
        tenant.count(answer)


@settings(FUZZ, max_examples=100)
@given(route=st.sampled_from(QUERY_ROUTES), query=form_bodies())
def test_query_strings(tenant: Tenant, route: str, query: bytes) -> None:
    path = route.format(meter=tenant.meter)
    # What cannot go raw in a request line (bytes past ASCII, spaces, `#`) percent-encoded.
    checked(tenant.http.get(f"{path}?{quote(query, safe='&=[]%+')}"))


@settings(FUZZ, max_examples=100)
@given(route=st.sampled_from(["/v1/customers", "/v1/billing/meters", "/v1/billing/meter_events",
                              "/v2/billing/meter_events", "/v1/prices",
                              "/v1/metered/events/batch"]), body=raw_json())
def test_json_bodies(tenant: Tenant, route: str, body: bytes) -> None:
    answer = checked(tenant.http.post(route, content=body,
                                      headers={"content-type": "application/json"}))
    if route == "/v1/metered/events/batch" and isinstance(answer, dict):
        assert answer.get("accepted", 0) == 0  # no event of ours in these bodies


# --- meter events and their accounting ----------------------------------------------------------

def send_single(tenant: Tenant, path: str, event: dict[str, Any], body: bytes | None = None,
                one_read: bool = False) -> None:
    if one_read:  # the single-event fast path takes a form that comes whole in one read
        assert body is not None
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                f"{tenant.key}\r\nContent-Type: {FORM}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        answer = exchange(tenant.server, [head + body])
        status, data = answer.status, answer.body
        stripe_shaped(status, data)
    elif body is not None:
        response = tenant.http.post(path, content=body, headers={"content-type": FORM})
        status, data = response.status_code, checked(response)
    else:
        response = tenant.http.post(path, json=event)
        status, data = response.status_code, checked(response)
    if status == 200:
        echoed = data["payload"]["value"]
        assert echoed == event["payload"]["value"], (echoed, event)
        tenant.count(event)


def send_batch(tenant: Tenant, how: str, batch: list[dict[str, Any]]) -> None:
    if how == "stream":
        response = tenant.stream.post("/v2/billing/meter_event_stream",
                                      json={"events": batch})
        expected_status = 202
    elif how == "ndjson":
        response = tenant.http.post("/v1/metered/events/batch", headers={
            "content-type": "application/x-ndjson"},
            content=b"\n".join(json.dumps(e).encode() for e in batch))
        expected_status = 200
    else:
        response = tenant.http.post("/v1/metered/events/batch", json=batch)
        expected_status = 200
    answer = checked(response)
    if response.status_code >= 400:
        return  # refused whole: nothing of it counted (the total says so)
    assert response.status_code == expected_status
    results = answer["results"]
    assert [r["index"] for r in results] == list(range(len(batch)))
    assert answer["accepted"] == sum(r["status"] == "accepted" for r in results)
    for event, result in zip(batch, results, strict=True):
        if result["status"] == "accepted":
            tenant.count(event)
        elif result["status"] == "rejected":
            assert isinstance(result["error"]["code"], str) and result["error"]["message"]


@settings(FUZZ, max_examples=120)
@given(data=st.data(), how=st.sampled_from(["v1 form, one read", "v1 form", "v1 json",
                                            "v2 json"]), style=st.sampled_from(STYLES))
def test_single_events_are_counted_exactly(tenant: Tenant, data: st.DataObject, how: str,
                                           style: str) -> None:
    form = how.startswith("v1 form")
    event = data.draw(events(tenant, form=form))
    if form:
        send_single(tenant, "/v1/billing/meter_events", event, form_of(event, style),
                    one_read=how.endswith("one read"))
    else:
        send_single(tenant, "/v1/billing/meter_events" if how == "v1 json"
                    else "/v2/billing/meter_events", event)
    assert tenant.total() == tenant.expected


@settings(FUZZ, max_examples=80)
@given(data=st.data(), how=st.sampled_from(["batch", "ndjson", "stream"]))
def test_batched_events_are_counted_exactly(tenant: Tenant, data: st.DataObject,
                                            how: str) -> None:
    batch = data.draw(st.lists(events(tenant, form=False), min_size=1, max_size=6))
    send_batch(tenant, how, batch)
    assert tenant.total() == tenant.expected


@st.composite
def plain_events(draw: st.DrawFn, tenant: Tenant) -> dict[str, Any]:
    """What the native path takes: a known customer, a plain integer value, a fresh id."""
    return {"event_name": "fz", "identifier": tenant.identifier(), "payload": {
        "stripe_customer_id": tenant.customer, "model": draw(st.sampled_from(["a", "b"])),
        "value": draw(st.one_of(st.integers(0, 10**12), st.integers(0, 10**12).map(str)))}}


def test_large_batches_through_a_parse_worker_are_counted_exactly(tenant: Tenant) -> None:
    """Bodies of 16 KiB and more are validated in a parse worker, by the native path when
    every event is plain: the same accounting."""
    def padded(event: dict[str, Any]) -> dict[str, Any]:
        return {**event, "payload": {**event["payload"], "pad": "p" * 120}}

    @settings(FUZZ, max_examples=8)
    @given(batch=st.one_of(st.lists(events(tenant, form=False), min_size=100, max_size=120),
                           st.lists(plain_events(tenant), min_size=100, max_size=120)))
    def run(batch: list[dict[str, Any]]) -> None:
        batch = [padded(e) if isinstance(e.get("payload"), dict) else e for e in batch]
        assert len(json.dumps(batch)) >= 16_384
        send_batch(tenant, "batch", batch)
        assert tenant.total() == tenant.expected

    run()
