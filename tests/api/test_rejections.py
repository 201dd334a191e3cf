"""Bad input gets a clear 4xx in Stripe's error format, and loses nothing already accepted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from conftest import Server


class Setup:
    def __init__(self, client: httpx.Client):
        self.client = client
        self.customer = client.post("/v1/customers", data={"name": "bad"}).json()["id"]
        self.meter = client.post("/v1/billing/meters", data={
            "display_name": "bad", "event_name": "units", "default_aggregation[formula]": "sum",
        }).json()["id"]
        accepted = client.post("/v1/metered/events/batch", json=[
            self.event(f"ok{i}", "2.5") for i in range(4)
        ]).json()
        assert accepted["accepted"] == 4

    def event(self, identifier: str | None, value: Any, **extra: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"stripe_customer_id": self.customer, "value": value}
        out: dict[str, Any] = {"event_name": "units", "payload": payload, **extra}
        if identifier is not None:
            out["identifier"] = identifier
        return out

    def total(self) -> Decimal:
        now = int(time.time())
        body = self.client.get(f"/v1/billing/meters/{self.meter}/event_summaries", params={
            "customer": self.customer, "start_time": (now - 86_400) // 60 * 60,
            "end_time": (now // 60 + 2) * 60,
        }).json()
        return Decimal(str(body["data"][0]["aggregated_value"]))


@pytest.fixture(scope="module")
def setup(server: Server) -> Iterator[Setup]:
    with server.client(server.new_account_key()) as client:
        s = Setup(client)
        yield s
        # Whatever the barrage did, the four accepted events are all still counted, once.
        assert s.total() == Decimal(10)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["type"] in ("invalid_request_error", "authentication_error", "idempotency_error")
    assert error["message"]
    return dict(error)


def post_event(setup: Setup, form: dict[str, str]) -> httpx.Response:
    return setup.client.post("/v1/billing/meter_events", data={"event_name": "units", **form})


@pytest.mark.parametrize(("value", "code"), [
    ("abc", "meter_event_invalid_value"),
    ("NaN", "meter_event_invalid_value"),
    ("Infinity", "meter_event_invalid_value"),
    ("-1", "meter_event_invalid_value"),
    ("1e30", "meter_event_value_too_many_digits"),
    (str(10**30), "meter_event_value_too_many_digits"),
    ("0.1234567890123", "meter_event_invalid_value"),
    ("", "meter_event_value_not_found"),
])
def test_bad_values(setup: Setup, value: str, code: str) -> None:
    error = error_of(post_event(setup, {
        "payload[stripe_customer_id]": setup.customer, "payload[value]": value}), 400)
    assert error["code"] == code
    assert error["param"] == "payload[value]"


@pytest.mark.parametrize(("timestamp", "code"), [
    (str(int(time.time()) - 36 * 86_400), "timestamp_too_far_in_past"),
    (str(int(time.time()) + 3600), "timestamp_in_future"),
    (str(10**20), "parameter_invalid"),
    ("yesterday", "parameter_invalid"),
    ("-5", "timestamp_too_far_in_past"),
])
def test_timestamps_out_of_range(setup: Setup, timestamp: str, code: str) -> None:
    error = error_of(post_event(setup, {
        "payload[stripe_customer_id]": setup.customer, "payload[value]": "1",
        "timestamp": timestamp}), 400)
    assert error["code"] == code and error["param"] == "timestamp"


def test_unknown_meter_customer_and_missing_fields(setup: Setup) -> None:
    error = error_of(setup.client.post("/v1/billing/meter_events", data={
        "event_name": "nope", "payload[stripe_customer_id]": setup.customer,
        "payload[value]": "1"}), 400)
    assert error["code"] == "no_meter" and error["param"] == "event_name"
    error = error_of(post_event(setup, {"payload[value]": "1"}), 400)
    assert error["code"] == "meter_event_no_customer_defined"
    error = error_of(post_event(setup, {"payload[stripe_customer_id]": "cus_missing",
                                        "payload[value]": "1"}), 400)
    assert error["code"] == "meter_event_customer_not_found"
    error = error_of(setup.client.post("/v1/billing/meter_events", data={"payload[value]": "1"}),
                     400)
    assert error["code"] == "parameter_missing" and error["param"] == "event_name"
    error = error_of(post_event(setup, {"payload[stripe_customer_id]": setup.customer,
                                        "payload[value]": "1", "colour": "red"}), 400)
    assert error["code"] == "parameter_unknown" and error["param"] == "colour"


def test_malformed_bodies(setup: Setup) -> None:
    c = setup.client
    error = error_of(c.post("/v1/metered/events/batch", content=b"[{\"event_name\": ",
                            headers={"content-type": "application/json"}), 400)
    assert error["code"] == "parameter_invalid_json"
    error = error_of(c.post("/v1/customers", content=b"{not json}",
                            headers={"content-type": "application/json"}), 400)
    assert error["code"] == "parameter_invalid_json"
    error = error_of(c.post("/v1/customers", content=b"name[=x&name[a]]=1",
                            headers={"content-type": "application/x-www-form-urlencoded"}), 400)
    assert error["code"] == "parameter_invalid"
    error = error_of(c.post("/v1/customers", content=b"name=a&name[x]=b",
                            headers={"content-type": "application/x-www-form-urlencoded"}), 400)
    assert error["param"].startswith("name")
    error = error_of(c.post("/v1/customers", content=b"name=\xff\xfe",
                            headers={"content-type": "application/x-www-form-urlencoded"}), 400)
    assert error["code"] == "parameter_invalid_encoding"
    error = error_of(c.post("/v1/metered/events/batch", content=b"[\"\xff\"]",
                            headers={"content-type": "application/json"}), 400)
    assert error["code"] == "parameter_invalid_json"
    error = error_of(c.post("/v1/customers", json=["not", "an", "object"]), 400)
    assert "object" in error["message"]


def test_wrong_types(setup: Setup) -> None:
    c = setup.client
    error = error_of(c.post("/v1/billing/meter_events", json={
        "event_name": "units", "payload": "a string"}), 400)
    assert error["param"] == "payload"
    error = error_of(c.post("/v1/billing/meter_events", json={
        "event_name": 42, "payload": {"stripe_customer_id": setup.customer, "value": "1"}}), 400)
    assert error["param"] == "event_name"
    error = error_of(c.post("/v1/billing/meter_events", json={
        "event_name": "units", "payload": {"stripe_customer_id": setup.customer, "value": True}}),
        400)
    assert error["code"] == "meter_event_invalid_value"
    error = error_of(c.get("/v1/customers", params={"limit": "abc"}), 400)
    assert error["param"] == "limit"
    error = error_of(c.get("/v1/customers", params={"limit": "1000"}), 400)
    assert error["param"] == "limit"
    error = error_of(c.post("/v1/billing/meters", data={
        "display_name": "x", "event_name": "y", "default_aggregation[formula]": "median"}), 400)
    assert error["param"] == "default_aggregation[formula]"


def test_batches_answer_per_event(setup: Setup) -> None:
    before = setup.total()
    response = setup.client.post("/v1/metered/events/batch", json=[
        setup.event("mix-ok", "1"),
        setup.event("mix-bad", "-3"),
        setup.event(None, "1", timestamp="soon"),
        "not an object",
        {"event_name": "units", "payload": {"value": "1"}, "identifier": "mix-nocust"},
        setup.event("ok0", "2.5"),  # accepted before the barrage: a duplicate now
    ])
    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "accepted", "rejected", "rejected", "rejected", "rejected", "duplicate"]
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (1, 1, 4)
    codes = [r["error"]["code"] for r in body["results"] if r["status"] == "rejected"]
    assert codes == ["meter_event_invalid_value", "parameter_invalid", "parameter_invalid",
                     "meter_event_no_customer_defined"]
    assert setup.total() == before + 1
    setup.client.post("/v1/billing/meter_event_adjustments", data={
        "event_name": "units", "cancel[identifier]": "mix-ok"})
    assert setup.total() == before


def test_oversized_batches_and_bodies(setup: Setup) -> None:
    events = [setup.event(f"big{i}", "1") for i in range(10_001)]
    error = error_of(setup.client.post("/v1/metered/events/batch", json=events), 400)
    assert error["code"] == "batch_too_large"
    ndjson = "\n".join(json.dumps(e) for e in events).encode()
    error = error_of(setup.client.post("/v1/metered/events/batch", content=ndjson, headers={
        "content-type": "application/x-ndjson"}), 400)
    assert error["code"] == "batch_too_large"
    error = error_of(setup.client.post("/v1/customers", data={"description": "x" * (2 << 20)}),
                     413)
    assert error["code"] == "request_too_large"
    error = error_of(setup.client.post("/v1/metered/events/batch", json=[]), 400)
    assert error["code"] == "parameter_missing"


def test_auth_urls_and_methods(server: Server, setup: Setup) -> None:
    anonymous = httpx.post(f"{server.base_url}/v1/customers", data={"name": "x"})
    assert error_of(anonymous, 401)["type"] == "authentication_error"
    wrong = httpx.get(f"{server.base_url}/v1/customers", auth=("sk_test_" + "0" * 32, ""))
    assert error_of(wrong, 401)["code"] == "api_key_invalid"
    publishable = httpx.get(f"{server.base_url}/v1/customers", auth=("pk_test_123", ""))
    assert error_of(publishable, 401)["code"] == "api_key_invalid"
    assert error_of(setup.client.get("/v1/nothing-here"), 404)["code"] == "resource_missing"
    assert error_of(setup.client.delete("/v1/billing/meters"), 400)["code"] == (
        "method_not_allowed"
    )
    missing = setup.client.get("/v1/billing/meters/mtr_doesnotexist")
    assert error_of(missing, 404)["param"] == "id"


def test_non_utf8_ndjson_line(setup: Setup) -> None:
    error = error_of(setup.client.post("/v1/metered/events/batch", content=b"{\"a\": \"\xff\"}\n",
                                       headers={"content-type": "application/x-ndjson"}), 400)
    assert error["code"] == "parameter_invalid_json" and "Line 1" in error["message"]
