"""Random bodies and queries against every route of a live server: never a 5xx, and every
refusal in Stripe's error format. The hand-written cases of test_bad_input say *which* error;
this says that nothing in between crashes (it found a form named `0=x` answering 500).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Server


@dataclass
class Tenant:
    http: httpx.Client
    session: httpx.Client  # authenticated by a v2 meter event session token
    customer: str
    meter: str


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[Tenant]:
    with server.client(server.new_account_key()) as http:
        customer = http.post("/v1/customers", data={"name": "fuzz"}).json()["id"]
        meter = http.post("/v1/billing/meters", data={
            "display_name": "fuzz", "event_name": "fuzz", "default_aggregation[formula]": "sum",
            "dimension_payload_keys[0]": "model"}).json()["id"]
        token = http.post("/v2/billing/meter_event_session").json()["authentication_token"]
        session = httpx.Client(base_url=server.base_url, timeout=30,
                               headers={"Authorization": f"Bearer {token}"})
        yield Tenant(http, session, customer, meter)
        session.close()


NAMES = ["event_name", "payload", "identifier", "timestamp", "value", "stripe_customer_id",
         "model", "cancel", "type", "display_name", "default_aggregation", "formula",
         "customer_mapping", "value_settings", "event_payload_key", "dimension_payload_keys",
         "name", "email", "metadata", "expand", "limit", "starting_after", "customer",
         "start_time", "end_time", "value_grouping_window", "group_by", "0", "", "x"]
SCALARS = st.one_of(
    st.sampled_from(["", "0", "-1", "1e30", "NaN", "Infinity", "1" * 40, "2.5", "true", "null",
                     "fuzz", "sum", "count", "max", "last", "unique_count", "hour", "day",
                     "cus_x", "mtr_x", "\u00e9", "\x00", "%FF", "%C3%A9", "a b", "+"]),
    st.integers(-2**70, 2**70).map(str),
    st.text(max_size=12),
)


@st.composite
def form_key(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(NAMES))
    for _ in range(draw(st.integers(0, 3))):
        inner = draw(st.one_of(st.sampled_from(NAMES), st.integers(0, 3).map(str)))
        key += f"[{inner}]"
    return draw(st.sampled_from([key, key.replace("[", "%5B").replace("]", "%5D"), key + "]",
                                 "[" + key]))


form_bodies = st.lists(st.tuples(form_key(), SCALARS), max_size=8).map(
    lambda pairs: "&".join(f"{k}={quote(v, safe='%')}" for k, v in pairs).encode("utf-8",
                                                                                 "surrogatepass"))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
              st.floats(allow_nan=False, allow_infinity=False), SCALARS),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(NAMES), children, max_size=5)),
    max_leaves=12,
)


def event_like(tenant: Tenant) -> st.SearchStrategy[Any]:
    """Mostly well-formed events with one part replaced by anything."""
    base = {"event_name": "fuzz", "identifier": "fz", "timestamp": int(time.time()),
            "payload": {"stripe_customer_id": tenant.customer, "value": "1", "model": "m"}}
    return st.one_of(
        json_values,
        st.tuples(st.sampled_from(["event_name", "identifier", "timestamp", "payload"]),
                  json_values).map(lambda kv: {**base, kv[0]: kv[1]}),
        st.tuples(st.sampled_from(["stripe_customer_id", "value", "model"]), json_values).map(
            lambda kv: {**base, "payload": {**base["payload"], kv[0]: kv[1]}}),
    )


def unique(body: bytes, salt: list[int]) -> bytes:
    """Identifiers made unique per example (a fixed `fz` would turn all but one into
    duplicates, which is a path too, but not the one the rest should reach)."""
    salt[0] += 1
    return body.replace(b'"fz"', b'"fz%d"' % salt[0])


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["type"] in ("invalid_request_error", "api_error", "idempotency_error",
                                 "rate_limit_error"), error
        assert isinstance(error["message"], str) and error["message"], error


FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
FORM_ROUTES = ["/v1/customers", "/v1/billing/meters", "/v1/billing/meter_events",
               "/v1/billing/meter_event_adjustments", "/v1/customers/{customer}",
               "/v1/billing/meters/{meter}", "/v1/billing/meters/{meter}/deactivate"]
QUERY_ROUTES = ["/v1/customers", "/v1/billing/meters", "/v1/billing/meters/{meter}/event_summaries",
                "/v1/metered/meters/{meter}/usage", "/v1/customers/{customer}"]


@FUZZ
@given(route=st.sampled_from(FORM_ROUTES), body=form_bodies)
def test_form_posts(tenant: Tenant, route: str, body: bytes) -> None:
    path = route.format(customer=tenant.customer, meter=tenant.meter)
    check(tenant.http.post(path, content=body,
                           headers={"content-type": "application/x-www-form-urlencoded"}))
    if route.endswith("/deactivate"):
        tenant.http.post(f"/v1/billing/meters/{tenant.meter}/reactivate")


@FUZZ
@given(route=st.sampled_from(QUERY_ROUTES), query=form_bodies)
def test_queries(tenant: Tenant, route: str, query: bytes) -> None:
    path = route.format(customer=tenant.customer, meter=tenant.meter)
    check(tenant.http.get(f"{path}?{query.decode()}"))


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["batch", "ndjson", "v2", "stream"]))
def test_json_events(tenant: Tenant, data: st.DataObject, kind: str) -> None:
    salt = [int(time.time() * 1000)]
    events = data.draw(st.lists(event_like(tenant), max_size=5))
    if kind == "batch":
        body = unique(json.dumps(events).encode(), salt)
        response = tenant.http.post("/v1/metered/events/batch", content=body,
                                    headers={"content-type": "application/json"})
    elif kind == "ndjson":
        body = unique(b"\n".join(json.dumps(e).encode() for e in events), salt)
        response = tenant.http.post("/v1/metered/events/batch", content=body,
                                    headers={"content-type": "application/x-ndjson"})
    elif kind == "v2":
        body = unique(json.dumps(events[0] if events else {}).encode(), salt)
        response = tenant.http.post("/v2/billing/meter_events", content=body,
                                    headers={"content-type": "application/json"})
    else:
        body = unique(json.dumps({"events": events}).encode(), salt)
        response = tenant.session.post("/v2/billing/meter_event_stream", content=body,
                                       headers={"content-type": "application/json"})
    check(response)


@FUZZ
@given(body=st.binary(max_size=64), route=st.sampled_from(
    ["/v1/customers", "/v1/billing/meter_events", "/v1/metered/events/batch",
     "/v2/billing/meter_events"]),
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                                  "application/x-ndjson", "text/plain", ""]))
def test_raw_bytes(tenant: Tenant, body: bytes, route: str, content_type: str) -> None:
    check(tenant.http.post(route, content=body, headers={"content-type": content_type}))
