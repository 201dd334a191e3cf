"""A barrage of bad input over raw HTTP: each request gets a clear 4xx in Stripe's error format
(status, type, code, and a `param` naming the offending field), and none of it changes what was
accepted before it (`test_zz_accepted_events_are_all_still_counted`, and the fixture's teardown).

Everything that could be accepted by mistake is aimed at a scratch customer, so the baseline
customer's total must stay exactly what it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from conftest import Server

FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}
NDJSON = {"content-type": "application/x-ndjson"}
BASELINE = ["2.5", "0.125", "7", "3.375"]  # 13 exactly
DAY = 86_400


@dataclass
class Target:
    server: Server
    http: httpx.Client
    key: str
    customer: str  # holds the baseline; nothing else may ever count for it
    scratch: str  # receives whatever the server might accept by mistake
    deleted: str
    foreign: str  # a customer of another account
    meter: str  # sum, event_name "units"
    archived: str  # deactivated, event_name "old_units"
    session: str  # a meter event session token

    def event(self, value: Any = "1", *, customer: str | None = None, **extra: Any
              ) -> dict[str, Any]:
        payload = {"stripe_customer_id": customer or self.scratch, "value": value}
        return {"event_name": "units", "payload": payload, **extra}

    def form_event(self, value: str = "1", **extra: str) -> dict[str, str]:
        return {"event_name": "units", "payload[stripe_customer_id]": self.scratch,
                "payload[value]": value, **extra}

    def total(self, customer: str | None = None) -> Decimal:
        now = int(time.time())
        response = self.http.get(f"/v1/billing/meters/{self.meter}/event_summaries", params={
            "customer": customer or self.customer, "start_time": (now - 2 * DAY) // 60 * 60,
            "end_time": (now // 60 + 10) * 60})
        assert response.status_code == 200, response.text
        # parse_float=Decimal: exact values, whatever their number of digits.
        [summary] = json.loads(response.text, parse_float=Decimal)["data"]
        return Decimal(summary["aggregated_value"])


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def target(server: Server) -> Iterator[Target]:
    key = server.new_account_key()
    with server.client(key) as http, server.client(server.new_account_key()) as other:
        customer = ok(http.post("/v1/customers", data={"name": "baseline"}))["id"]
        scratch = ok(http.post("/v1/customers", data={"name": "scratch"}))["id"]
        deleted = ok(http.post("/v1/customers", data={"name": "gone"}))["id"]
        ok(http.delete(f"/v1/customers/{deleted}"))
        foreign = ok(other.post("/v1/customers", data={"name": "foreign"}))["id"]
        meter = ok(http.post("/v1/billing/meters", data={
            "display_name": "Units", "event_name": "units",
            "default_aggregation[formula]": "sum"}))["id"]
        archived = ok(http.post("/v1/billing/meters", data={
            "display_name": "Old", "event_name": "old_units",
            "default_aggregation[formula]": "sum"}))["id"]
        ok(http.post(f"/v1/billing/meters/{archived}/deactivate"))
        session = ok(http.post("/v2/billing/meter_event_session", json={}))[
            "authentication_token"]
        t = Target(server, http, key, customer, scratch, deleted, foreign, meter, archived,
                   session)
        batch = ok(http.post("/v1/metered/events/batch", json=[
            t.event(v, customer=customer, identifier=f"base{i}") for i, v in enumerate(BASELINE)
        ]))
        assert batch["accepted"] == 4
        assert t.total() == Decimal(13)
        yield t
        # Whatever the barrage did, the baseline is counted exactly once, as before.
        assert t.total() == Decimal(13)


def check_error(response: httpx.Response, status: int, *, type: str = "invalid_request_error",
                code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """A Stripe error body with exactly these fields (code/param None means: absent)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["request-id"].startswith("req_")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"type", "code", "message", "param"}, error
    assert isinstance(error["message"], str) and len(error["message"]) > 10, error
    assert error["type"] == type, error
    assert error.get("code") == code, error
    assert error.get("param") == param, error
    return dict(error)


Call = Callable[[Target], httpx.Response]


def post_form(path: str, body: bytes) -> Call:
    return lambda t: t.http.post(path, content=body, headers=FORM)


def post_json(path: str, body: bytes) -> Call:
    return lambda t: t.http.post(path, content=body, headers=JSON)


def event_json(**fields: Any) -> Call:
    """A v1 meter event as JSON: `fields` override the event; `payload_*` override the payload."""
    def call(t: Target) -> httpx.Response:
        event = t.event()
        for name, value in fields.items():
            if name.startswith("payload_"):
                event["payload"][name[8:]] = value
            else:
                event[name] = value
        return t.http.post("/v1/billing/meter_events", json=event)
    return call


def event_form(**fields: str) -> Call:
    return lambda t: t.http.post("/v1/billing/meter_events", data=t.form_event(**fields))


# (id, call, status, code, param)
MALFORMED: list[tuple[str, Call, int, str | None, str | None]] = [
    ("truncated json", post_json("/v1/billing/meter_events", b'{"event_name": "units", "pa'),
     400, "parameter_invalid_json", None),
    ("not json", post_json("/v1/customers", b"{not json}"), 400, "parameter_invalid_json", None),
    ("trailing garbage", post_json("/v1/customers", b'{"name": "x"} and more'),
     400, "parameter_invalid_json", None),
    ("byte order mark", post_json("/v1/customers", b'\xef\xbb\xbf{"name": "x"}'),
     400, "parameter_invalid_json", None),
    ("json array for an object", post_json("/v1/customers", b'["name", "x"]'), 400, None, None),
    ("json null", post_json("/v1/billing/meter_events", b"null"), 400, None, None),
    ("json number", post_json("/v1/billing/meters", b"42"), 400, None, None),
    ("empty json body", post_json("/v1/billing/meter_events", b""),
     400, "parameter_missing", "event_name"),
    ("batch truncated", post_json("/v1/metered/events/batch", b'[{"event_name": '),
     400, "parameter_invalid_json", None),
    ("batch events not a list", post_json("/v1/metered/events/batch", b'{"events": 5}'),
     400, None, None),
    ("batch empty", post_json("/v1/metered/events/batch", b"[]"),
     400, "parameter_missing", "events"),
    ("batch whitespace", post_json("/v1/metered/events/batch", b"  \n "),
     400, "parameter_missing", None),
    ("stream events empty", lambda t: httpx.post(
        f"{t.server.base_url}/v2/billing/meter_event_stream", json={"events": []},
        headers={"Authorization": f"Bearer {t.session}"}), 400, "parameter_missing", "events"),
    ("stream events not a list", lambda t: httpx.post(
        f"{t.server.base_url}/v2/billing/meter_event_stream", json={"events": {"a": 1}},
        headers={"Authorization": f"Bearer {t.session}"}), 400, "parameter_missing", "events"),
    # Bracket nesting in form bodies.
    ("open bracket", post_form("/v1/customers", b"name[=x"), 400, "parameter_invalid", "name["),
    ("extra close bracket", post_form("/v1/customers", b"metadata[a]]=x"),
     400, "parameter_invalid", "metadata[a]]"),
    ("nested open brackets", post_form("/v1/customers", b"metadata[[a]]=x"),
     400, "parameter_invalid", "metadata[[a]]"),
    ("no name before bracket", post_form("/v1/customers", b"[name]=x"),
     400, "parameter_invalid", "[name]"),
    ("text after bracket", post_form("/v1/customers", b"metadata[a]b=x"),
     400, "parameter_invalid", "metadata[a]b"),
    ("stray close bracket", post_form("/v1/customers", b"name]=x"),
     400, "parameter_unknown", "name]"),
    ("nested too deep", post_form("/v1/customers", b"metadata" + b"[a]" * 8 + b"=x"),
     400, "parameter_invalid", "metadata" + "[a]" * 8),
    # Conflicting keys, in either order.
    ("scalar then nested", post_form("/v1/customers", b"name=a&name[x]=b"),
     400, "parameter_invalid", "name[x]"),
    ("nested then scalar", post_form("/v1/customers", b"name[x]=b&name=a"),
     400, "parameter_invalid", "name"),
    ("value then object", post_form("/v1/billing/meter_events",
                                    b"event_name=units&payload[value]=1&payload[value][x]=2"),
     400, "parameter_invalid", "payload[value][x]"),
    ("object then scalar", post_form("/v1/billing/meter_events",
                                     b"event_name=units&payload[value]=1&payload=x"),
     400, "parameter_invalid", "payload"),
]


@pytest.mark.parametrize(("call", "status", "code", "param"),
                         [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_bodies(target: Target, call: Call, status: int, code: str | None,
                          param: str | None) -> None:
    check_error(call(target), status, code=code, param=param)


def test_ndjson_bad_line_is_named(target: Target) -> None:
    lines = [json.dumps(target.event(identifier="nd-ok")).encode(), b"", b"{oops"]
    error = check_error(target.http.post("/v1/metered/events/batch", content=b"\n".join(lines),
                                         headers=NDJSON), 400, code="parameter_invalid_json")
    assert "Line 3" in error["message"]
    assert target.total(target.scratch) == Decimal(0)  # the good line was not applied either


WRONG_TYPES: list[tuple[str, Call, str, str]] = [
    ("payload as string (json)", event_json(payload="a string"), "parameter_invalid", "payload"),
    ("payload as string (form)", post_form("/v1/billing/meter_events",
                                           b"event_name=units&payload=abc"),
     "parameter_invalid", "payload"),
    ("payload as list", event_json(payload=[1, 2]), "parameter_invalid", "payload"),
    ("event_name as number", event_json(event_name=42), "parameter_invalid", "event_name"),
    ("event_name as list", event_json(event_name=["units"]), "parameter_invalid", "event_name"),
    ("identifier as number", event_json(identifier=5), "parameter_invalid", "identifier"),
    ("identifier as object", event_json(identifier={"a": 1}), "parameter_invalid",
     "identifier"),
    ("timestamp as bool", event_json(timestamp=True), "parameter_invalid", "timestamp"),
    ("timestamp as float", event_json(timestamp=1.5e9), "parameter_invalid", "timestamp"),
    ("customer id as number", event_json(payload_stripe_customer_id=7), "parameter_invalid",
     "payload[stripe_customer_id]"),
    ("limit=abc", lambda t: t.http.get("/v1/customers", params={"limit": "abc"}),
     "parameter_invalid", "limit"),
    ("limit=1.5", lambda t: t.http.get("/v1/customers", params={"limit": "1.5"}),
     "parameter_invalid", "limit"),
    ("limit=0", lambda t: t.http.get("/v1/billing/meters", params={"limit": "0"}),
     "parameter_invalid", "limit"),
    ("limit=101", lambda t: t.http.get("/v1/billing/meters", params={"limit": "101"}),
     "parameter_invalid", "limit"),
    ("limit=-1", lambda t: t.http.get("/v1/customers", params={"limit": "-1"}),
     "parameter_invalid", "limit"),
    ("limit=10**30", lambda t: t.http.get("/v1/customers", params={"limit": str(10**30)}),
     "parameter_invalid", "limit"),
    ("name as list", lambda t: t.http.post("/v1/customers", json={"name": ["a"]}),
     "parameter_invalid", "name"),
    ("metadata as string", lambda t: t.http.post("/v1/customers", json={"metadata": "x"}),
     "parameter_invalid", "metadata"),
    ("metadata value as object", lambda t: t.http.post(
        "/v1/customers", json={"metadata": {"a": {"b": "c"}}}), "parameter_invalid",
     "metadata[a]"),
    ("metadata key too long", lambda t: t.http.post(
        "/v1/customers", data={f"metadata[{'k' * 41}]": "v"}), "parameter_invalid",
     f"metadata[{'k' * 41}]"),
    ("metadata value too long", lambda t: t.http.post(
        "/v1/customers", data={"metadata[k]": "v" * 501}), "parameter_invalid", "metadata[k]"),
    ("metadata with 51 keys", lambda t: t.http.post(
        "/v1/customers", data={f"metadata[k{i}]": "v" for i in range(51)}),
     "parameter_invalid", "metadata"),
    ("name too long", lambda t: t.http.post("/v1/customers", data={"name": "n" * 257}),
     "parameter_invalid", "name"),
    ("aggregation as string", lambda t: t.http.post("/v1/billing/meters", data={
        "display_name": "x", "event_name": "x1", "default_aggregation": "sum"}),
     "parameter_invalid", "default_aggregation"),
    ("unknown formula", lambda t: t.http.post("/v1/billing/meters", data={
        "display_name": "x", "event_name": "x2", "default_aggregation[formula]": "median"}),
     "parameter_invalid", "default_aggregation[formula]"),
    ("bad event_name characters", lambda t: t.http.post("/v1/billing/meters", data={
        "display_name": "x", "event_name": "has space", "default_aggregation[formula]": "sum"}),
     "parameter_invalid", "event_name"),
    ("dimension equal to value key", lambda t: t.http.post("/v1/billing/meters", data={
        "display_name": "x", "event_name": "x3", "default_aggregation[formula]": "sum",
        "dimension_payload_keys[0]": "value"}), "parameter_invalid", "dimension_payload_keys"),
    ("empty display_name on update", lambda t: t.http.post(
        f"/v1/billing/meters/{t.meter}", data={"display_name": ""}), "parameter_invalid",
     "display_name"),
    ("adjustment type", lambda t: t.http.post("/v1/billing/meter_event_adjustments", data={
        "event_name": "units", "type": "delete", "cancel[identifier]": "base0"}),
     "parameter_invalid", "type"),
    ("adjustment cancel as string", lambda t: t.http.post(
        "/v1/billing/meter_event_adjustments", data={"event_name": "units", "cancel": "base0"}),
     "parameter_invalid", "cancel"),
    ("adjustment without cancel", lambda t: t.http.post(
        "/v1/billing/meter_event_adjustments", data={"event_name": "units"}),
     "parameter_missing", "cancel[identifier]"),
    ("expand as object", lambda t: t.http.get("/v1/customers", params={"expand[a]": "b"}),
     "parameter_invalid", "expand"),
]


@pytest.mark.parametrize(("call", "code", "param"), [c[1:] for c in WRONG_TYPES],
                         ids=[c[0] for c in WRONG_TYPES])
def test_wrong_types(target: Target, call: Call, code: str, param: str) -> None:
    check_error(call(target), 400, code=code, param=param)


def summary_params(t: Target, **override: Any) -> dict[str, Any]:
    now = int(time.time()) // 3600 * 3600
    return {"customer": t.customer, "start_time": now - 7200, "end_time": now, **override}


SUMMARY_ERRORS: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("start_time not a number", {"start_time": "abc"}, 400, "parameter_invalid", "start_time"),
    ("start_time not on a minute", {"start_time": 1_700_000_030}, 400, "parameter_invalid",
     "start_time"),
    ("end_time before start", {"end_time": 1_600_000_020}, 400, "parameter_invalid",
     "end_time"),
    ("negative start_time", {"start_time": -60}, 400, "parameter_invalid", "start_time"),
    ("end_time past year 9999", {"end_time": 10**13}, 400, "parameter_invalid", "end_time"),
    ("hour window unaligned", {"value_grouping_window": "hour", "end_time": 1_800_000_060},
     400, "parameter_invalid", "end_time"),
    ("unknown window", {"value_grouping_window": "week"}, 400, "parameter_invalid",
     "value_grouping_window"),
    ("customer missing", {"customer": None}, 400, "parameter_missing", "customer"),
    ("customer unknown", {"customer": "cus_nobody"}, 404, "resource_missing", "customer"),
    ("customer of another account", {"customer": "FOREIGN"}, 404, "resource_missing",
     "customer"),
    ("group_by undeclared", {"group_by[]": "region"}, 400, "parameter_invalid", "group_by"),
    ("unknown parameter", {"colour": "red"}, 400, "parameter_unknown", "colour"),
]


@pytest.mark.parametrize(("override", "status", "code", "param"),
                         [c[1:] for c in SUMMARY_ERRORS], ids=[c[0] for c in SUMMARY_ERRORS])
def test_bad_summary_queries(target: Target, override: dict[str, Any], status: int, code: str,
                             param: str) -> None:
    if override.get("customer") == "FOREIGN":
        override = {**override, "customer": target.foreign}
    params = {k: v for k, v in summary_params(target, **override).items() if v is not None}
    check_error(target.http.get(f"/v1/billing/meters/{target.meter}/event_summaries",
                                params=params), status, code=code, param=param)


def test_unknown_meter_and_customers(target: Target) -> None:
    t = target
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"event_name": "no_such_meter"}, "no_meter", "event_name"),
        ({"event_name": "old_units"}, "archived_meter", "event_name"),
        ({"payload": {"value": "1"}}, "meter_event_no_customer_defined",
         "payload[stripe_customer_id]"),
        ({"payload": {"stripe_customer_id": "", "value": "1"}},
         "meter_event_no_customer_defined", "payload[stripe_customer_id]"),
        ({"payload": {"stripe_customer_id": "cus_nobody", "value": "1"}},
         "meter_event_customer_not_found", "payload[stripe_customer_id]"),
        ({"payload": {"stripe_customer_id": t.deleted, "value": "1"}},
         "meter_event_customer_not_found", "payload[stripe_customer_id]"),
        ({"payload": {"stripe_customer_id": t.foreign, "value": "1"}},
         "meter_event_customer_not_found", "payload[stripe_customer_id]"),
        ({"payload": {"stripe_customer_id": t.scratch}}, "meter_event_value_not_found",
         "payload[value]"),
        ({"payload": None}, "parameter_missing", "payload"),
        ({"event_name": None}, "parameter_missing", "event_name"),
        ({"event_name": "u" * 101}, "parameter_invalid", "event_name"),
        ({"identifier": "i" * 256}, "parameter_invalid", "identifier"),
        ({"payload": {"stripe_customer_id": t.scratch, "value": "1", "big": "x" * 17_000}},
         "parameter_invalid", "payload"),
        ({"payload": {"stripe_customer_id": t.scratch, "value": "1",
                      **{f"k{i}": i for i in range(100)}}}, "parameter_invalid", "payload"),
    ]
    for override, code, param in cases:
        event = {**t.event(), **override}
        event = {k: v for k, v in event.items() if v is not None}
        check_error(t.http.post("/v1/billing/meter_events", json=event), 400, code=code,
                    param=param)
        # The v2 endpoint and the batch give the same reason.
        check_error(t.http.post("/v2/billing/meter_events", json=event), 400, code=code,
                    param=param)
        [result] = ok(t.http.post("/v1/metered/events/batch", json=[event]))["results"]
        assert result["status"] == "rejected"
        assert (result["error"]["code"], result["error"]["param"]) == (code, param)
    assert t.total(t.scratch) == Decimal(0)


# (value as sent in a JSON payload, code); form bodies send str(value).
BAD_VALUES: list[tuple[Any, str]] = [
    ("abc", "meter_event_invalid_value"),
    ("NaN", "meter_event_invalid_value"),
    ("nan", "meter_event_invalid_value"),
    ("Infinity", "meter_event_invalid_value"),
    ("-Infinity", "meter_event_invalid_value"),
    ("-1", "meter_event_invalid_value"),
    (-1, "meter_event_invalid_value"),
    ("-0.5", "meter_event_invalid_value"),
    ("1,5", "meter_event_invalid_value"),
    ("0x10", "meter_event_invalid_value"),
    ("1e30", "meter_event_value_too_many_digits"),
    ("1E+30", "meter_event_value_too_many_digits"),
    (str(10**30), "meter_event_value_too_many_digits"),
    (10**30, "meter_event_value_too_many_digits"),
    ("1234567890123456", "meter_event_value_too_many_digits"),
    ("0.1234567890123", "meter_event_invalid_value"),  # 13 decimal places
    ("1e-13", "meter_event_invalid_value"),
    (True, "meter_event_invalid_value"),
    ([1], "meter_event_invalid_value"),
    ({"v": 1}, "meter_event_invalid_value"),
    ("", "meter_event_value_not_found"),
    (None, "meter_event_value_not_found"),
]


@pytest.mark.parametrize(("value", "code"), BAD_VALUES, ids=[repr(v)[:24] for v, _ in BAD_VALUES])
def test_bad_values(target: Target, value: Any, code: str) -> None:
    t = target
    check_error(t.http.post("/v1/billing/meter_events", json=t.event(value)), 400, code=code,
                param="payload[value]")
    if isinstance(value, str):
        check_error(t.http.post("/v1/billing/meter_events", data=t.form_event(value)), 400,
                    code=code, param="payload[value]")
    [result] = ok(t.http.post("/v1/metered/events/batch", json=[t.event(value)]))["results"]
    assert result["status"] == "rejected" and result["error"]["code"] == code


def test_value_limits_are_inclusive(target: Target) -> None:
    """The largest accepted values: 15 significant digits, 12 decimal places."""
    t = target
    customer = ok(t.http.post("/v1/customers", data={"name": "limits"}))["id"]
    for value in ("999999999999999", "0.000000000001", "123.456789012345", "1e14", "0"):
        ok(t.http.post("/v1/billing/meter_events", json=t.event(value, customer=customer)))
    assert t.total(customer) == Decimal("1099999999999999") + Decimal("123.456789012346")


@pytest.mark.parametrize("value", ["1_000", "\u0663", " 5 ", "+5", "5\n"])
def test_values_decimal_accepts_but_stripe_would_not(target: Target, value: str) -> None:
    customer = ok(target.http.post("/v1/customers", data={"name": "quirks"}))["id"]
    check_error(target.http.post("/v1/billing/meter_events",
                                 json=target.event(value, customer=customer)), 400,
                code="meter_event_invalid_value", param="payload[value]")


# (name, timestamp relative to now or absolute, JSON code, form code)
TIMESTAMPS: list[tuple[str, Callable[[int], Any], str, str]] = [
    ("36 days ago", lambda now: now - 36 * DAY, "timestamp_too_far_in_past",
     "timestamp_too_far_in_past"),
    ("one hour ahead", lambda now: now + 3600, "timestamp_in_future", "timestamp_in_future"),
    ("zero", lambda now: 0, "timestamp_too_far_in_past", "timestamp_too_far_in_past"),
    ("negative", lambda now: -5, "timestamp_too_far_in_past", "timestamp_too_far_in_past"),
    ("not a number", lambda now: "yesterday", "parameter_invalid", "parameter_invalid"),
    ("decimal string", lambda now: "1700000000.5", "parameter_invalid", "parameter_invalid"),
    ("absurd string", lambda now: str(10**20), "parameter_invalid", "parameter_invalid"),
    # As a JSON integer it is a (far) future time; as form text it is too long to be one.
    ("absurd integer", lambda now: 10**20, "timestamp_in_future", "parameter_invalid"),
    ("iso without zone", lambda now: "2026-01-01T00:00:00", "parameter_invalid",
     "parameter_invalid"),
    ("iso impossible date", lambda now: "2026-13-45T00:00:00Z", "parameter_invalid",
     "parameter_invalid"),
    ("iso far future", lambda now: "2999-01-01T00:00:00Z", "timestamp_in_future",
     "timestamp_in_future"),
    ("iso far past", lambda now: "1999-01-01T00:00:00+02:00", "timestamp_too_far_in_past",
     "timestamp_too_far_in_past"),
]


@pytest.mark.parametrize(("make", "json_code", "form_code"), [c[1:] for c in TIMESTAMPS],
                         ids=[c[0] for c in TIMESTAMPS])
def test_timestamps_out_of_range(target: Target, make: Callable[[int], Any], json_code: str,
                                 form_code: str) -> None:
    t = target
    timestamp = make(int(time.time()))
    check_error(t.http.post("/v1/billing/meter_events", json=t.event(timestamp=timestamp)), 400,
                code=json_code, param="timestamp")
    check_error(t.http.post("/v1/billing/meter_events",
                            data=t.form_event(timestamp=str(timestamp))),
                400, code=form_code, param="timestamp")
    [result] = ok(t.http.post("/v1/metered/events/batch",
                              json=[t.event(timestamp=timestamp)]))["results"]
    assert (result["error"]["code"], result["error"]["param"]) == (json_code, "timestamp")


@pytest.mark.parametrize("timestamp", ["--5", "\u00b2", "5\n"])
def test_timestamp_strings_that_crash_int(target: Target, timestamp: str) -> None:
    t = target
    check_error(t.http.post("/v1/billing/meter_events", data=t.form_event(timestamp=timestamp)),
                400, code="parameter_invalid", param="timestamp")
    # In a batch, the one bad event must not take the good one down with it.
    customer = ok(t.http.post("/v1/customers", data={"name": "crash"}))["id"]
    body = ok(t.http.post("/v1/metered/events/batch", json=[
        t.event("1", customer=customer), t.event("1", customer=customer, timestamp=timestamp)]))
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected"]


def test_timestamps_just_inside_the_window_are_accepted(target: Target) -> None:
    t = target
    customer = ok(t.http.post("/v1/customers", data={"name": "window"}))["id"]
    now = int(time.time())
    for i, ts in enumerate((now - 35 * DAY + 3600, now + 120)):
        ok(t.http.post("/v1/billing/meter_events", json=t.event(
            "1", customer=customer, identifier=f"w{i}", timestamp=ts)))
    start, end = (now - 36 * DAY) // 3600 * 3600, (now // 3600 + 2) * 3600
    body = ok(t.http.get(f"/v1/billing/meters/{t.meter}/event_summaries", params={
        "customer": customer, "start_time": start, "end_time": end}))
    assert body["data"][0]["aggregated_value"] == 2


UNKNOWN_PARAMS: list[tuple[str, Call, str]] = [
    ("meter event", event_form(colour="red"), "colour"),
    ("customer create", lambda t: t.http.post("/v1/customers", data={"name": "x",
                                                                     "colour": "red"}),
     "colour"),
    ("customer update", lambda t: t.http.post(f"/v1/customers/{t.customer}",
                                              data={"nickname": "x"}), "nickname"),
    ("meter create nested", lambda t: t.http.post("/v1/billing/meters", data={
        "display_name": "x", "event_name": "x4", "default_aggregation[formula]": "sum",
        "foo[bar]": "1"}), "foo"),
    ("meter update event_name", lambda t: t.http.post(f"/v1/billing/meters/{t.meter}",
                                                      data={"event_name": "renamed"}),
     "event_name"),
    ("meter reactivate", lambda t: t.http.post(f"/v1/billing/meters/{t.archived}/reactivate",
                                               data={"force": "true"}), "force"),
    ("adjustment", lambda t: t.http.post("/v1/billing/meter_event_adjustments", data={
        "event_name": "units", "cancel[identifier]": "base0", "identifier": "base0"}),
     "identifier"),
    ("v2 meter event", lambda t: t.http.post("/v2/billing/meter_events", json={
        **t.event(), "extra": 1}), "extra"),
    ("v2 session", lambda t: t.http.post("/v2/billing/meter_event_session",
                                         json={"ttl": 60}), "ttl"),
    ("v2 stream", lambda t: httpx.post(
        f"{t.server.base_url}/v2/billing/meter_event_stream",
        json={"events": [t.event()], "mode": "fast"},
        headers={"Authorization": f"Bearer {t.session}"}), "mode"),
    ("numeric name", lambda t: t.http.post("/v1/billing/meter_events", data={
        **t.form_event(), "0": "x"}), "0"),  # once a 500: the form root became a list
    ("customer list", lambda t: t.http.get("/v1/customers", params={"created[gte]": "1"}),
     "created"),
    ("meter list", lambda t: t.http.get("/v1/billing/meters", params={"state": "active"}),
     "state"),
    ("customer retrieve", lambda t: t.http.get(f"/v1/customers/{t.customer}",
                                               params={"fields": "name"}), "fields"),
    ("meter retrieve", lambda t: t.http.get(f"/v1/billing/meters/{t.meter}",
                                            params={"x": "1"}), "x"),
    ("usage", lambda t: t.http.get(f"/v1/metered/meters/{t.meter}/usage", params={
        **summary_params(t), "limit": "5"}), "limit"),
]


@pytest.mark.parametrize(("call", "param"), [c[1:] for c in UNKNOWN_PARAMS],
                         ids=[c[0] for c in UNKNOWN_PARAMS])
def test_unknown_params(target: Target, call: Call, param: str) -> None:
    error = check_error(call(target), 400, code="parameter_unknown", param=param)
    assert param in error["message"]


def test_missing_or_invalid_authorization(target: Target) -> None:
    base = target.server.base_url
    fake = "sk_test_" + "Q" * 32

    def get(headers: dict[str, str], path: str = "/v1/customers") -> httpx.Response:
        return httpx.get(base + path, headers=headers)

    check_error(get({}), 401, type="authentication_error")
    check_error(get({"Authorization": "Bearer"}), 401, type="authentication_error")
    check_error(get({"Authorization": "Bearer  sk_test_"}), 401, type="authentication_error",
                code="api_key_invalid")
    check_error(get({"Authorization": "Token " + target.key}), 401, type="authentication_error")
    check_error(get({"Authorization": "Basic !!!not-base64"}), 401, type="authentication_error")
    error = check_error(get({"Authorization": f"Bearer {fake}"}), 401,
                        type="authentication_error", code="api_key_invalid")
    assert fake not in error["message"]  # the key is masked
    check_error(httpx.get(base + "/v1/customers", auth=(fake, "")), 401,
                type="authentication_error", code="api_key_invalid")
    check_error(get({"Authorization": "Bearer pk_test_abc"}), 401, type="authentication_error",
                code="api_key_invalid")
    check_error(get({"Authorization": f"Bearer {target.session}"}), 401,
                type="authentication_error", code="api_key_invalid")
    check_error(get({"Authorization": f"Bearer {target.key}x"}), 401,
                type="authentication_error", code="api_key_invalid")
    # The stream takes a session token, and only that.
    stream = f"{base}/v2/billing/meter_event_stream"
    body = {"events": [target.event()]}
    check_error(httpx.post(stream, json=body), 401, type="authentication_error")
    check_error(httpx.post(stream, json=body, headers={"Authorization": f"Bearer {target.key}"}),
                401, type="authentication_error", code="invalid_authentication_token")
    check_error(httpx.post(stream, json=body,
                           headers={"Authorization": "Bearer mes_tok_" + "z" * 40}),
                401, type="authentication_error", code="invalid_authentication_token")
    # A bad key posting an event changes nothing.
    check_error(httpx.post(base + "/v1/billing/meter_events", auth=(fake, ""),
                           data=target.form_event()), 401, type="authentication_error",
                code="api_key_invalid")
    assert target.total(target.scratch) == Decimal(0)


ROUTING: list[tuple[str, str, str, int, str, str | None]] = [
    ("GET", "/v1/nothing", "unknown url", 404, "resource_missing", None),
    ("GET", "/", "root", 404, "resource_missing", None),
    ("POST", "/v2/billing/nothing", "unknown v2 url", 404, "resource_missing", None),
    ("GET", "/v1/customers/cus_x/extra", "extra path segment", 404, "resource_missing", None),
    ("GET", "/v1/customers/", "trailing slash", 404, "resource_missing", None),
    ("GET", "/v1/customers/cus_nobody", "unknown customer", 404, "resource_missing", "id"),
    ("GET", "/v1/billing/meters/mtr_nobody", "unknown meter", 404, "resource_missing", "id"),
    ("POST", "/v1/billing/meters/mtr_nobody", "update unknown meter", 404, "resource_missing",
     "id"),
    ("DELETE", "/v1/customers/cus_nobody", "delete unknown customer", 404, "resource_missing",
     "id"),
    ("DELETE", "/v1/billing/meters", "delete meters", 400, "method_not_allowed", None),
    ("PUT", "/v1/customers", "put customers", 400, "method_not_allowed", None),
    ("PATCH", "/v1/customers/cus_x", "patch customer", 400, "method_not_allowed", None),
    ("GET", "/v1/billing/meter_events", "get meter events", 400, "method_not_allowed", None),
    ("GET", "/v2/billing/meter_event_stream", "get stream", 400, "method_not_allowed", None),
]


@pytest.mark.parametrize(("method", "path", "status", "code", "param"),
                         [(m, p, s, c, pa) for m, p, _, s, c, pa in ROUTING],
                         ids=[r[2] for r in ROUTING])
def test_unknown_urls_and_wrong_methods(target: Target, method: str, path: str, status: int,
                                        code: str, param: str | None) -> None:
    error = check_error(target.http.request(method, path), status, code=code, param=param)
    if code == "method_not_allowed":
        assert method in error["message"]


def test_summaries_of_unknown_meter(target: Target) -> None:
    check_error(target.http.get("/v1/billing/meters/mtr_nobody/event_summaries",
                                params=summary_params(target)), 404, code="resource_missing",
                param="id")


def test_oversized_batches(target: Target) -> None:
    t = target
    events = [t.event("1", identifier=f"big{i}") for i in range(10_001)]
    for call in (
        lambda: t.http.post("/v1/metered/events/batch", json=events),
        lambda: t.http.post("/v1/metered/events/batch", json={"events": events}),
        lambda: t.http.post("/v1/metered/events/batch", headers=NDJSON,
                            content="\n".join(json.dumps(e) for e in events).encode()),
        lambda: httpx.post(f"{t.server.base_url}/v2/billing/meter_event_stream", timeout=60,
                           json={"events": events},
                           headers={"Authorization": f"Bearer {t.session}"}),
    ):
        check_error(call(), 400, code="batch_too_large", param="events")
    assert t.total(t.scratch) == Decimal(0)  # not one of them was applied
    # 10,000 is the limit, not an error.
    customer = ok(t.http.post("/v1/customers", data={"name": "ten thousand"}))["id"]
    body = ok(t.http.post("/v1/metered/events/batch", json=[
        t.event("0.5", customer=customer, identifier=f"ten{i}") for i in range(10_000)]))
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (10_000, 0, 0)
    assert t.total(customer) == Decimal(5000)


def test_bodies_over_the_size_limit(target: Target) -> None:
    t = target
    huge = "x" * (1 << 20)
    customers = t.http.get("/v1/customers", params={"limit": 100}).json()["data"]
    for response in (
        t.http.post("/v1/customers", data={"description": huge}),
        t.http.post("/v1/billing/meter_events", json=t.event(big=huge)),
        t.http.post("/v2/billing/meter_events", json=t.event(big=huge)),
        t.http.post("/v1/billing/meter_event_adjustments", data={
            "event_name": "units", "cancel[identifier]": huge}),
    ):
        check_error(response, 413, code="request_too_large")
    assert t.total(t.scratch) == Decimal(0)
    assert t.http.get("/v1/customers", params={"limit": 100}).json()["data"] == customers


NON_UTF8: list[tuple[str, Call, str]] = [
    ("raw byte in form", post_form("/v1/customers", b"name=\xff\xfe"),
     "parameter_invalid_encoding"),
    ("raw byte in form event", lambda t: t.http.post(
        "/v1/billing/meter_events", headers=FORM,
        content=b"event_name=units&payload[stripe_customer_id]=" + t.scratch.encode()
        + b"&payload[value]=1&identifier=\xc3\x28"), "parameter_invalid_encoding"),
    ("percent-encoded byte in form", post_form("/v1/customers", b"name=%FF"),
     "parameter_invalid_encoding"),
    ("percent-encoded surrogate in form", post_form("/v1/customers", b"name=%ED%A0%80"),
     "parameter_invalid_encoding"),
    ("percent-encoded byte in query", lambda t: t.http.get("/v1/customers?email=%C3%28"),
     "parameter_invalid_encoding"),
    ("raw byte in json", post_json("/v1/customers", b'{"name": "\xff"}'),
     "parameter_invalid_json"),
    ("lone surrogate escape in json", post_json("/v1/customers", b'{"name": "\\ud800 x"}'),
     "parameter_invalid_json"),
    ("raw byte in json event", lambda t: t.http.post(
        "/v1/billing/meter_events", headers=JSON,
        content=b'{"event_name": "units", "identifier": "\xe9", "payload": '
        b'{"stripe_customer_id": "' + t.scratch.encode() + b'", "value": 1}}'),
     "parameter_invalid_json"),
    ("raw byte in v2 json", post_json("/v2/billing/meter_events",
                                      b'{"event_name": "units\xff"}'), "parameter_invalid_json"),
    ("raw byte in batch", post_json("/v1/metered/events/batch", b'[{"event_name": "\x80"}]'),
     "parameter_invalid_json"),
    ("raw byte in ndjson", lambda t: t.http.post(
        "/v1/metered/events/batch", headers=NDJSON, content=b'{"event_name": "\xfe"}\n'),
     "parameter_invalid_json"),
]


@pytest.mark.parametrize(("call", "code"), [c[1:] for c in NON_UTF8], ids=[c[0] for c in NON_UTF8])
def test_non_utf8_bodies(target: Target, call: Call, code: str) -> None:
    check_error(call(target), 400, code=code)


def test_mixed_batch_answers_per_event(target: Target) -> None:
    t = target
    mix = ok(t.http.post("/v1/customers", data={"name": "mix"}))["id"]
    now = int(time.time())
    events: list[Any] = [
        t.event("1.5", customer=mix, identifier="g1"),                              # 0 ok
        t.event("-3", customer=mix, identifier="b1"),                               # 1
        t.event("2", customer=mix, identifier="b2", timestamp="soon"),              # 2
        "not an object",                                                            # 3
        {"event_name": "units", "payload": {"value": "1"}, "identifier": "b4"},     # 4
        t.event("1", customer="cus_nobody", identifier="b5"),                       # 5
        {**t.event("1", customer=mix), "event_name": "old_units", "identifier": "b6"},  # 6
        {**t.event("1", customer=mix), "event_name": "nope", "identifier": "b7"},   # 7
        t.event("1e30", customer=mix, identifier="b8"),                             # 8
        t.event("2.5", customer=t.customer, identifier="base0"),                    # 9 dup
        t.event("0.25", customer=mix, identifier="g2", timestamp=now - 3600),       # 10 ok
        t.event("99", customer=mix, identifier="g1"),                               # 11 dup
        t.event("1", customer=mix, identifier="b12", timestamp=now - 40 * DAY),     # 12
        t.event("1", customer=mix, identifier=12),                                  # 13
        t.event("3", customer=mix),                                                 # 14 ok
    ]
    body = ok(t.http.post("/v1/metered/events/batch", json=events))
    assert body["object"] == "metered.event_batch"
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(events)))
    statuses = {i: r["status"] for i, r in enumerate(results)}
    assert [i for i, s in statuses.items() if s == "accepted"] == [0, 10, 14]
    assert [i for i, s in statuses.items() if s == "duplicate"] == [9, 11]
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (3, 2, 10)
    rejected = {i: (r["error"]["code"], r["error"]["param"]) for i, r in enumerate(results)
                if r["status"] == "rejected"}
    assert rejected == {
        1: ("meter_event_invalid_value", "payload[value]"),
        2: ("parameter_invalid", "timestamp"),
        3: ("parameter_invalid", None),
        4: ("meter_event_no_customer_defined", "payload[stripe_customer_id]"),
        5: ("meter_event_customer_not_found", "payload[stripe_customer_id]"),
        6: ("archived_meter", "event_name"),
        7: ("no_meter", "event_name"),
        8: ("meter_event_value_too_many_digits", "payload[value]"),
        12: ("timestamp_too_far_in_past", "timestamp"),
        13: ("parameter_invalid", "identifier"),
    }
    assert all(r["error"]["message"] for r in results if r["status"] == "rejected")
    assert [results[i]["identifier"] for i in (0, 1, 3, 9, 11)] == ["g1", "b1", None, "base0",
                                                                      "g1"]
    assert isinstance(results[14]["identifier"], str) and len(results[14]["identifier"]) >= 16
    assert "error" not in results[0] and "error" not in results[9]
    assert t.total(mix) == Decimal("4.75")
    assert t.total() == Decimal(13)

    # The same batch again: the good ones are duplicates now (except the one without an
    # identifier, which gets a new one), the bad ones are rejected for the same reasons.
    again = ok(t.http.post("/v1/metered/events/batch", json=events))
    assert [r["status"] for r in again["results"]][:14] == [
        "duplicate" if statuses[i] != "rejected" else "rejected" for i in range(14)]
    assert t.total(mix) == Decimal("7.75")
    assert t.total() == Decimal(13)


def test_mixed_ndjson_and_stream(target: Target) -> None:
    t = target
    mix = ok(t.http.post("/v1/customers", data={"name": "mix2"}))["id"]
    lines = [json.dumps(t.event("1", customer=mix, identifier="n1")), "",
             json.dumps(t.event("x", customer=mix, identifier="n2")), "[]",
             json.dumps(t.event("2", customer=mix, identifier="n3")), ""]
    body = ok(t.http.post("/v1/metered/events/batch", content="\n".join(lines).encode(),
                          headers=NDJSON))
    assert [(r["index"], r["status"]) for r in body["results"]] == [
        (0, "accepted"), (1, "rejected"), (2, "rejected"), (3, "accepted")]
    assert body["results"][1]["error"]["code"] == "meter_event_invalid_value"
    stream = httpx.post(f"{t.server.base_url}/v2/billing/meter_event_stream",
                        headers={"Authorization": f"Bearer {t.session}"}, json={"events": [
                            t.event("4", customer=mix, identifier="n4"),
                            t.event("4", customer=mix, identifier="n1"),
                            t.event("4", customer="cus_nobody", identifier="n5")]})
    assert stream.status_code == 202
    assert [r["status"] for r in stream.json()["results"]] == ["accepted", "duplicate",
                                                               "rejected"]
    assert t.total(mix) == Decimal(7)


def test_failed_requests_leave_no_trace(target: Target) -> None:
    """A rejected event's identifier is still free; a rejected customer was never created."""
    t = target
    before = [c["id"] for c in t.http.get("/v1/customers", params={"limit": 100}).json()["data"]]
    check_error(t.http.post("/v1/customers", data={"name": "x", "colour": "red"}), 400,
                code="parameter_unknown", param="colour")
    after = [c["id"] for c in t.http.get("/v1/customers", params={"limit": 100}).json()["data"]]
    assert after == before
    customer = ok(t.http.post("/v1/customers", data={"name": "retry"}))["id"]
    check_error(t.http.post("/v1/billing/meter_events", json=t.event(
        "-1", customer=customer, identifier="retry-1")), 400, code="meter_event_invalid_value",
        param="payload[value]")
    ok(t.http.post("/v1/billing/meter_events", json=t.event(
        "4", customer=customer, identifier="retry-1")))
    assert t.total(customer) == Decimal(4)


def test_zz_accepted_events_are_all_still_counted(target: Target) -> None:
    t = target
    assert t.total() == Decimal(13)
    # Each baseline event is still there, once: re-sending any of them is a duplicate.
    body = ok(t.http.post("/v1/metered/events/batch", json=[
        t.event(v, customer=t.customer, identifier=f"base{i}") for i, v in enumerate(BASELINE)]))
    assert [r["status"] for r in body["results"]] == ["duplicate"] * 4
    assert t.total() == Decimal(13)
    hourly = ok(t.http.get(f"/v1/billing/meters/{t.meter}/event_summaries", params={
        "customer": t.customer, "value_grouping_window": "hour", "limit": 100,
        "start_time": (int(time.time()) // 3600 - 30) * 3600,
        "end_time": (int(time.time()) // 3600 + 1) * 3600}))
    assert sum(Decimal(str(s["aggregated_value"])) for s in hourly["data"]) == Decimal(13)
